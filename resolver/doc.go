// Package resolver makes forge's version decisions, with no I/O: every
// input arrives as a value or through a small interface, every output is a
// decision with a reason. Its tests are text scenarios under testdata/.
//
// It owns:
//   - PEP 440 versions and specifier sets, PEP 508 requirements and
//     markers (pep440.go, pep508.go, markers.go);
//   - layer resolution (layers.go): which copy of each package an
//     environment's interpreter imports across LOCAL > PARENT > GLOBAL, and
//     the conflicts between what is installed and what it requires, under a
//     conflict mode (loose, warn, strict);
//   - install planning (plan.go): PlanInstall decides whether the packages a
//     caller already holds serve a request (pinned roots, dependencies at the
//     highest admitted version, markers and extras evaluated, constraints
//     and Requires-Python applied), or why a full resolver must run. It sees
//     candidates through the Candidates interface, in the manner of cmd/go's
//     mvs.Reqs.
//
// It does not own, and must not import any forge package for: reading the
// store, wheels or metadata files (the caller implements Candidates; for
// forge that is package workspace over package store), or ABI admission
// (Candidates.Admit is the caller's verdict, for forge package abi's).
// The layering test at the module root enforces the imports.
package resolver
