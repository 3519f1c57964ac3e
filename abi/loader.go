package abi

import (
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// This file answers two questions the way glibc's loader and CPython's
// import system would, from a fingerprint alone: which ELF files does
// `import` load (the rest are loaded on demand, if ever), and where would
// the loader find each DT_NEEDED library.

// extSuffixRe matches the suffix of a CPython/PyPy extension module file
// name: "_C.cpython-312-x86_64-linux-gnu.so", "_lim.abi3.so",
// "_m.cpython-312-x86_64-linux-musl.so", "x.pypy310-pp73-x86_64-linux-gnu.so".
var extSuffixRe = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`\.(cpython-([0-9]+)(t?)-([a-z0-9_]+)-linux-(gnu|musl)[a-z0-9]*|abi3|pypy[0-9]+-pp[0-9]+-([a-z0-9_]+)-linux-(gnu|musl))\.so$`)
})

// ExtensionSuffix is what an extension module's file name says about the
// interpreter and C library that can import it.
type ExtensionSuffix struct {
	Interpreter string // "cp312", "" for abi3 and plain ".so"
	Libc        string // "glibc", "musl", "" when the name does not say
}

// IsExtensionModule reports whether the wheel member p is a Python
// extension module, and what its suffix says. Besides the tagged suffixes,
// CPython imports a plain "name.so"; a versioned "libfoo.so.1" or a
// "libfoo.so" is a library, not a module, by the universal convention.
func IsExtensionModule(p string) (ExtensionSuffix, bool) {
	base := path.Base(p)
	if strings.HasPrefix(p, "../") || strings.Contains(p, ".data/") && !strings.Contains(p, ".data/purelib/") && !strings.Contains(p, ".data/platlib/") {
		return ExtensionSuffix{}, false
	}
	if m := extSuffixRe().FindStringSubmatch(base); m != nil {
		var s ExtensionSuffix
		switch {
		case m[2] != "":
			s.Interpreter = "cp" + m[2]
			s.Libc = libcOfSuffix(m[5])
		case m[7] != "":
			s.Libc = libcOfSuffix(m[7])
		}
		return s, true
	}
	if strings.HasSuffix(base, ".so") && !strings.HasPrefix(base, "lib") && len(base) > 3 {
		return ExtensionSuffix{}, true
	}
	return ExtensionSuffix{}, false
}

func libcOfSuffix(s string) string {
	if s == "musl" {
		return "musl"
	}
	return "glibc"
}

// isProgram reports whether e is an executable rather than a library: it
// has a PT_INTERP and no soname. Programs run when someone runs them.
func isProgram(e ELF) bool {
	return e.Interp != "" && e.Soname == "" && !strings.Contains(path.Base(e.Path), ".so")
}

// Loaded returns the paths of the ELF members that importing the wheel
// loads: the DT_NEEDED closure of its extension modules, resolved inside
// the wheel as the loader would (search path first, then same name
// anywhere in the wheel). A wheel with no extension module (nvidia-cublas,
// a bundle of libraries other wheels load) loads all its libraries; its
// programs are still on demand. Every other member is loaded on demand —
// a plugin torch opens with dlopen, a test program, a CLI tool — and its
// needs are risks, never refusals.
func (fp *Fingerprint) Loaded() map[string]bool {
	out := map[string]bool{}
	var queue []int
	for i, e := range fp.ELFs {
		if _, ok := IsExtensionModule(e.Path); ok {
			out[e.Path] = true
			queue = append(queue, i)
		}
	}
	if len(queue) == 0 {
		for _, e := range fp.ELFs {
			if !isProgram(e) {
				out[e.Path] = true
			}
		}
		return out
	}
	byPath := make(map[string]int, len(fp.ELFs))
	byName := map[string][]int{}
	for i, e := range fp.ELFs {
		byPath[e.Path] = i
		byName[path.Base(e.Path)] = append(byName[path.Base(e.Path)], i)
		if e.Soname != "" && e.Soname != path.Base(e.Path) {
			byName[e.Soname] = append(byName[e.Soname], i)
		}
	}
	for len(queue) > 0 {
		e := fp.ELFs[queue[0]]
		queue = queue[1:]
		for _, n := range e.Needed {
			j := -1
			for _, dir := range SearchDirs(e) {
				if k, ok := byPath[path.Join(dir, n)]; ok {
					j = k
					break
				}
			}
			if j < 0 {
				if c := byName[n]; len(c) > 0 {
					j = c[0]
				}
			}
			if j >= 0 && !out[fp.ELFs[j].Path] {
				out[fp.ELFs[j].Path] = true
				queue = append(queue, j)
			}
		}
	}
	return out
}

// SearchDirs are the directories, relative to the wheel's root (the
// site-packages it is installed into), that the loader searches for e's
// DT_NEEDED libraries before the host's: DT_RPATH when there is no
// DT_RUNPATH, else DT_RUNPATH; $ORIGIN is e's own directory. Absolute
// entries are the host's business and are left out; so are entries that
// climb above site-packages.
func SearchDirs(e ELF) []string {
	list := e.Runpath
	if len(list) == 0 {
		list = e.Rpath
	}
	var out []string
	dir := path.Dir(e.Path)
	for _, item := range list {
		rel, ok := strings.CutPrefix(item, "$ORIGIN")
		if !ok {
			rel, ok = strings.CutPrefix(item, "${ORIGIN}")
		}
		if !ok {
			continue
		}
		d := path.Clean(dir + "/" + rel)
		if d == ".." || strings.HasPrefix(d, "../") {
			continue
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// hasSearchPath reports whether e tells the loader where to look.
func hasSearchPath(e ELF) bool { return len(e.Runpath) > 0 || len(e.Rpath) > 0 }

// resolution is where the loader would find one DT_NEEDED library of a file.
type resolution struct {
	found bool
	// searched are the directories tried, site-packages-relative, for the
	// message.
	searched []string
	// elsewhere is a site-packages-relative path of a file with that name
	// that the environment has but the search path does not reach.
	elsewhere string
}

// resolve finds n, needed by e, as the loader would: e's search path
// (inside the wheel, and in the environment's files when files is not
// nil), then the host's libraries. shipped and provided are the old,
// name-only view (a library of that name anywhere in the wheel or the
// environment), used for files with no search path of their own, whose
// libraries the loader can only find when something preloaded them.
func (c *checker) resolve(e ELF, n string) resolution {
	if n == libcudaSoname || IsBaselineLibrary(n) || slices.Contains(c.h.Libraries, n) {
		return resolution{found: true}
	}
	dirs := SearchDirs(e)
	for _, d := range dirs {
		p := path.Join(d, n)
		if c.shippedPath[p] || c.providedFiles[p] {
			return resolution{found: true}
		}
	}
	if !hasSearchPath(e) || c.providedFiles == nil {
		// No search path: the name-only view (the wheel's own or the
		// environment's libraries, as before files were known).
		if c.ships(n) || slices.Contains(c.opts.ProvidedLibs, n) {
			return resolution{found: true}
		}
		return resolution{searched: dirs}
	}
	r := resolution{searched: dirs}
	if p := c.shippedName[n]; p != "" {
		r.elsewhere = p
	} else if p := c.providedName[n]; p != "" {
		r.elsewhere = p
	}
	return r
}

// initLoader prepares the lookups resolve uses.
func (c *checker) initLoader() {
	c.loaded = c.fp.Loaded()
	c.shippedPath = map[string]bool{}
	c.shippedName = map[string]string{}
	for _, e := range c.fp.ELFs {
		c.shippedPath[e.Path] = true
		for _, n := range []string{path.Base(e.Path), e.Soname} {
			if n != "" && c.shippedName[n] == "" {
				c.shippedName[n] = e.Path
			}
		}
	}
	if c.opts.ProvidedFiles != nil {
		c.providedFiles = make(map[string]bool, len(c.opts.ProvidedFiles))
		c.providedName = map[string]string{}
		for _, p := range c.opts.ProvidedFiles {
			c.providedFiles[p] = true
			if b := path.Base(p); c.providedName[b] == "" {
				c.providedName[b] = p
			}
		}
	}
}

// onDemand reports whether file is loaded only on demand.
func (c *checker) onDemand(file string) bool { return file != "" && !c.loaded[file] }

// severity is sev for a file import loads, Risk for one loaded on demand.
func (c *checker) severity(file string, sev Severity) Severity {
	if sev == Incompatible && c.onDemand(file) {
		return Risk
	}
	return sev
}

// demandNote prefixes a message about a file loaded on demand.
func (c *checker) demandNote(file string) string {
	if c.onDemand(file) {
		return "loaded on demand: "
	}
	return ""
}

// cudaEvidence is the CUDA major one file needs and why.
type cudaEvidence struct {
	major    int
	toolkit  string // the toolkit the evidence names, when it does ("12.4")
	evidence string
}

// fileCUDA is the CUDA major e needs, from its own content: a DT_NEEDED
// libcudart.so.N, else the newest PTX ISA among its GPU code (PTX 8.4 is
// written by CUDA 12.4: the runtime it was built with, linked statically
// as NVIDIA's libraries do, needs a driver for CUDA 12).
func fileCUDA(e ELF) cudaEvidence {
	if e.CUDARuntimeMajor > 0 {
		return cudaEvidence{major: e.CUDARuntimeMajor, evidence: fmt.Sprintf("libcudart.so.%d in %s", e.CUDARuntimeMajor, e.Path)}
	}
	best := ""
	for _, g := range e.GPUCode {
		if g.Kind == KindPTX && g.PTXVersion != "" && CompareVersions(g.PTXVersion, best) > 0 {
			best = g.PTXVersion
		}
	}
	if best == "" {
		return cudaEvidence{}
	}
	tk, ok := PTXToolkit[best]
	if !ok {
		return cudaEvidence{}
	}
	return cudaEvidence{major: MajorOf(tk), toolkit: tk, evidence: fmt.Sprintf("PTX ISA %s (CUDA %s) in %s", best, tk, e.Path)}
}

// Provided gathers what a set of installed wheels offers the loader: the
// sonames and file names of their ELF members (the name-only view) and
// their paths as site-packages shows them. Together they are the
// CheckOptions of a wheel checked among them.
type Provided struct {
	libs, files map[string]bool
}

// Add records fp's ELF members.
func (p *Provided) Add(fp *Fingerprint) {
	if p.libs == nil {
		p.libs, p.files = map[string]bool{}, map[string]bool{}
	}
	for _, e := range fp.ELFs {
		p.libs[path.Base(e.Path)] = true
		if e.Soname != "" {
			p.libs[e.Soname] = true
		}
		if f, ok := sitePath(e.Path); ok {
			p.files[f] = true
		}
	}
}

// Options returns CheckOptions with ProvidedLibs and ProvidedFiles set
// (sorted; ProvidedFiles not nil, so Check resolves as the loader does).
func (p *Provided) Options() CheckOptions {
	return CheckOptions{ProvidedLibs: slices.Sorted(maps.Keys(p.libs)), ProvidedFiles: append([]string{}, slices.Sorted(maps.Keys(p.files))...)}
}

// sitePath is where a wheel member lands relative to site-packages: the
// member itself, or under .data/purelib or .data/platlib; other .data
// members land elsewhere.
func sitePath(member string) (string, bool) {
	first, rest, ok := strings.Cut(member, "/")
	if !ok || !strings.HasSuffix(first, ".data") {
		return member, true
	}
	for _, scheme := range []string{"purelib/", "platlib/"} {
		if r, ok := strings.CutPrefix(rest, scheme); ok {
			return r, true
		}
	}
	return "", false
}
