// Package abi is forge's ABI compatibility engine: it says whether a wheel's
// binaries will load and run on a host, and why not.
//
// It owns:
//   - the vocabulary both sides are described in: Fingerprint (what a wheel
//     needs: Python and platform tags, glibc/GLIBCXX/CXXABI floors, musl or
//     glibc, DT_NEEDED libraries, x86-64 ISA level, CUDA runtime major, GPU
//     code) and Host (what a machine offers, the forge.host/v1 host profile);
//   - reading those facts from a wheel's files: ReadELF (dynamic section,
//     version needs, GNU property note) and ParseFatbin / ParseFatbinAt
//     (cubin and PTX entries in .nv_fatbin and in other allocated sections),
//     WHEEL and METADATA, wheel file names and tags;
//   - the rules as data (rules.go: manylinux aliases, ISA levels, CUDA
//     driver floors, PTX ISA → toolkit) and the checks that read them
//     (Check → findings with stable codes, severities and messages);
//   - the decision over findings: Policy (strict_abi, warn_abi, allow_abi),
//     Decide and Evaluate → Verdict; ChooseFlavour picks among CUDA builds of
//     one version; Evaluator memoises verdicts of stored fingerprints.
//
// It does not own, and must not import: detecting the host (package probe
// fills a Host), the store or its database (package store keeps
// fingerprints as JSON), environments, or which version of a project to
// install (package resolver). Its only I/O is reading the io.ReaderAt it is
// handed; it never opens a path of the host. The layering test at the
// module root enforces the imports.
package abi
