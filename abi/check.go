package abi

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/forge-ml/forge/wheel"
)

// Stable finding codes of Check. They are part of forge's JSON contract.
const (
	CodeTagUnsupported  = "tag_unsupported"
	CodeArch            = "arch"
	CodeLibcFamily      = "libc_family"
	CodeGlibcFloor      = "glibc_floor"
	CodeGlibcxxFloor    = "glibcxx_floor"
	CodeTagUnderstates  = "tag_understates"
	CodeISALevel        = "isa_level"
	CodeCUDADriver      = "cuda_driver"
	CodeCUDAMinorCompat = "cuda_minor_compat"
	CodeGPUArch         = "gpu_arch"
	CodePTXJIT          = "ptx_jit"
	CodeNoGPU           = "no_gpu"
	CodeMissingLibrary  = "missing_library"
	// CodeGPUCodeUnknown: a file's GPU code for a visible GPU is in fatbin
	// entries of a kind forge cannot read, so whether it runs is unknown.
	CodeGPUCodeUnknown = "gpu_code_unknown"
	// CodeExtensionSuffix: an extension module's file name names another
	// interpreter, so import will not find it.
	CodeExtensionSuffix = "extension_suffix"
)

// CheckOptions carries what Check needs beyond the fingerprint and the host.
type CheckOptions struct {
	// ProvidedLibs are sonames the environment's other layers provide
	// (e.g. libcudart.so.12 from nvidia-cuda-runtime-cu12). Check reads
	// them only to look up the fingerprint's Needed (Evaluator relies on it).
	ProvidedLibs []string
	// ProvidedFiles, when not nil, are the paths (relative to
	// site-packages) of the ELF files the environment's layers provide as
	// the environment's site-packages shows them (forge links what a
	// child's packages reach through their RUNPATH from a parent). With it,
	// a file with a search path of its own finds a library only where the
	// loader would: Check then reports a library that is in the
	// environment but off the file's search path as missing.
	ProvidedFiles []string
	// VisibleDevices, when non-nil, replaces Host.VisibleDevices
	// (CUDA_VISIBLE_DEVICES semantics: nil all, "" none).
	VisibleDevices *string
}

// Check compares what a wheel needs with what a host has. It is pure: the
// same inputs give the same findings, in a fixed order. fp's reading problems
// (malformed ELF/fatbin) come first.
func Check(fp *Fingerprint, h *Host, opts CheckOptions) []Finding {
	c := checker{fp: fp, h: h, opts: opts}
	c.initLoader()
	c.out = append(c.out, fp.Problems...)
	c.tags()
	c.arch()
	c.libc()
	c.isa()
	c.cuda()
	c.gpu()
	c.libraries()
	c.variant()
	return c.out
}

type checker struct {
	fp   *Fingerprint
	h    *Host
	opts CheckOptions
	out  []Finding

	// Set by initLoader (loader.go).
	loaded                     map[string]bool // members import loads
	shippedPath, providedFiles map[string]bool
	shippedName, providedName  map[string]string
}

// ships reports whether the wheel contains a member with that file name or
// soname (initLoader indexed them).
func (c *checker) ships(soname string) bool { return c.shippedName[soname] != "" }

func (c *checker) add(code string, sev Severity, file, format string, args ...any) {
	c.out = append(c.out, Finding{Code: code, Severity: sev, File: file, Message: fmt.Sprintf(format, args...)})
}

// hostArch is the host architecture in platform-tag spelling.
func (c *checker) hostArch() string { return ArchOfGOARCH(c.h.Arch) }

func (c *checker) hostLibc() (family, version string) {
	if c.h.Libc == nil {
		return "", ""
	}
	return c.h.Libc.Family, c.h.Libc.Version
}

func (c *checker) hostLibcText() string {
	fam, ver := c.hostLibc()
	if fam == "" {
		return "an unknown libc"
	}
	return strings.TrimSpace(fam + " " + ver)
}

// fileWith returns the first (non-optional when possible) ELF member whose
// field value equals want.
func (c *checker) fileWith(get func(ELF) string, want string) string {
	found := ""
	for _, e := range c.fp.ELFs {
		if get(e) == want {
			if !e.Optional {
				return e.Path
			}
			if found == "" {
				found = e.Path
			}
		}
	}
	return found
}

// ---- tags ----

func (c *checker) tags() {
	var tags []wheel.Tag
	for _, s := range c.fp.Tags {
		if t, err := wheel.ParseTag(s); err == nil {
			tags = append(tags, t)
		}
	}
	if len(tags) == 0 {
		return
	}
	var reasons []string
	if c.h.Python != nil && len(c.h.Python.Tags) > 0 {
		// The common case, a supported tag, is a scan without allocation;
		// the maps that explain a refusal are built only for a refusal.
		for _, t := range c.fp.Tags {
			if slices.Contains(c.h.Python.Tags, t) {
				return
			}
		}
		interps, pairs, plats := map[string]bool{}, map[string]bool{}, map[string]bool{}
		abis := map[string][]string{} // interpreter → the ABIs the host accepts with it
		for _, s := range c.h.Python.Tags {
			if t, err := wheel.ParseTag(s); err == nil {
				interps[t.Interpreter] = true
				if !pairs[t.Interpreter+"-"+t.ABI] {
					abis[t.Interpreter] = append(abis[t.Interpreter], t.ABI)
				}
				pairs[t.Interpreter+"-"+t.ABI] = true
				plats[t.Platform] = true
			}
		}
		for _, t := range tags {
			var why []string
			switch {
			case !interps[t.Interpreter]:
				why = append(why, "interpreter "+t.Interpreter+" not supported")
			case !pairs[t.Interpreter+"-"+t.ABI]:
				why = append(why, fmt.Sprintf("ABI %s not supported (the host takes %s only with ABI %s)", t.ABI, t.Interpreter, strings.Join(abis[t.Interpreter], " or ")))
			}
			if !plats[t.Platform] {
				why = append(why, "platform "+t.Platform+" not supported"+c.platformHint(t.Platform))
			}
			if len(why) == 0 {
				why = append(why, "this interpreter/ABI/platform combination is not supported")
			}
			reasons = append(reasons, t.String()+": "+strings.Join(why, "; "))
		}
	} else {
		for _, t := range tags {
			why := c.tagProblems(t)
			if len(why) == 0 {
				return
			}
			reasons = append(reasons, t.String()+": "+strings.Join(why, "; "))
		}
	}
	if len(reasons) > 3 {
		reasons = append(reasons[:3], fmt.Sprintf("and %d more", len(reasons)-3))
	}
	host := "host " + c.h.Name
	if c.h.Name == "" {
		host = "this host"
	}
	c.add(CodeTagUnsupported, Incompatible, "", "no wheel tag is supported by %s (%s): %s",
		host, c.pythonText(), strings.Join(reasons, ", "))
}

func (c *checker) pythonText() string {
	p := c.h.Python
	if p == nil {
		return c.hostArch() + ", " + c.hostLibcText()
	}
	abi := p.ABI
	if abi == "" {
		abi = p.Implementation
	}
	return fmt.Sprintf("%s %s, %s, %s", abi, p.Version, c.hostArch(), c.hostLibcText())
}

func (c *checker) platformHint(plat string) string {
	p, ok := ParsePlatform(plat)
	if !ok || p.Libc == "any" {
		return ""
	}
	if p.Arch != "" && p.Arch != c.hostArch() {
		return " (host is " + c.hostArch() + ")"
	}
	fam, ver := c.hostLibc()
	if p.Libc != "" && fam != "" && p.Libc != fam {
		return " (host has " + c.hostLibcText() + ")"
	}
	if p.Floor != "" && ver != "" && !VersionAtLeast(ver, p.Floor) {
		return fmt.Sprintf(" (needs %s %s, host has %s)", p.Libc, p.Floor, c.hostLibcText())
	}
	return ""
}

var interpRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([a-z]+)([0-9])([0-9]*)$`) })

// tagProblems derives support of one tag from the host's python and libc
// when the profile has no tag list.
func (c *checker) tagProblems(t wheel.Tag) []string {
	var why []string
	if py := c.h.Python; py != nil {
		impl := py.Implementation
		if impl == "" {
			impl = "cp"
		}
		vs := strings.Split(py.Version, ".")
		hmaj, hmin := 0, 0
		if len(vs) > 0 {
			hmaj, _ = strconv.Atoi(vs[0])
		}
		if len(vs) > 1 {
			hmin, _ = strconv.Atoi(vs[1])
		}
		hostABI := py.ABI
		if hostABI == "" {
			hostABI = fmt.Sprintf("%s%d%d", impl, hmaj, hmin)
		}
		m := interpRe().FindStringSubmatch(t.Interpreter)
		interpOK, exact := false, false
		if m != nil {
			maj, _ := strconv.Atoi(m[2])
			minor, hasMinor := -1, m[3] != ""
			if hasMinor {
				minor, _ = strconv.Atoi(m[3])
			}
			implOK := m[1] == "py" || m[1] == impl
			interpOK = implOK && maj == hmaj && (!hasMinor || minor <= hmin)
			exact = implOK && maj == hmaj && minor == hmin
		}
		if !interpOK {
			why = append(why, fmt.Sprintf("interpreter %s not supported by %s %s", t.Interpreter, impl, py.Version))
		} else {
			switch t.ABI {
			case "none":
			case "abi3":
				if m[1] != "cp" || impl != "cp" {
					why = append(why, "ABI abi3 needs CPython")
				}
			default:
				if t.ABI != hostABI || !exact {
					why = append(why, fmt.Sprintf("ABI %s not supported (host ABI %s)", t.ABI, hostABI))
				}
			}
		}
	}
	p, ok := ParsePlatform(t.Platform)
	switch {
	case !ok:
		why = append(why, "platform "+t.Platform+" is not Linux")
	case p.Libc == "any":
	case p.Arch != c.hostArch():
		why = append(why, fmt.Sprintf("platform %s is for %s, host is %s", t.Platform, p.Arch, c.hostArch()))
	default:
		fam, ver := c.hostLibc()
		if p.Libc != "" && fam != "" && p.Libc != fam {
			why = append(why, fmt.Sprintf("platform %s needs %s, host has %s", t.Platform, p.Libc, c.hostLibcText()))
		} else if p.Floor != "" && ver != "" && !VersionAtLeast(ver, p.Floor) {
			why = append(why, fmt.Sprintf("platform %s needs %s %s, host has %s", t.Platform, p.Libc, p.Floor, c.hostLibcText()))
		}
	}
	return why
}

// ---- arch, libc ----

// fileFinding adds a finding about one file: incompatible only when import
// loads that file, a risk naming it as loaded on demand otherwise.
func (c *checker) fileFinding(code string, sev Severity, file, format string, args ...any) {
	c.add(code, c.severity(file, sev), file, c.demandNote(file)+format, args...)
}

// firstFile returns, among the ELF members for which match holds, the
// first that import loads (non-optional first), else the first at all.
func (c *checker) firstFile(match func(ELF) bool) (ELF, bool) {
	var found ELF
	have := false
	for _, e := range c.fp.ELFs {
		if !match(e) {
			continue
		}
		if !c.onDemand(e.Path) && !e.Optional {
			return e, true
		}
		if !have {
			found, have = e, true
		}
	}
	return found, have
}

func (c *checker) arch() {
	ha := c.hostArch()
	if ha == "" {
		return
	}
	for _, m := range c.fp.Machines {
		if m != ha {
			e, _ := c.firstFile(func(e ELF) bool { return e.Machine == m })
			c.fileFinding(CodeArch, Incompatible, e.Path, "%s is built for %s, host is %s", e.Path, m, ha)
		}
	}
}

// fileLibc is the C library e is built against: from its own content, else
// from its extension-module suffix ("-linux-musl.so"), which names the
// libc of the only interpreter that would import it.
func fileLibc(e ELF) string {
	if e.Libc != "" {
		return e.Libc
	}
	if s, ok := IsExtensionModule(e.Path); ok {
		return s.Libc
	}
	return ""
}

func (c *checker) libc() {
	fam, ver := c.hostLibc()
	if fam != "" {
		if e, ok := c.firstFile(func(e ELF) bool { l := fileLibc(e); return l != "" && l != fam }); ok {
			why := ""
			if e.Libc == "" {
				why = " (its extension-module suffix says so)"
			}
			c.fileFinding(CodeLibcFamily, Incompatible, e.Path, "%s is built against %s%s, host has %s", e.Path, fileLibc(e), why, c.hostLibcText())
			return
		}
	}
	c.interpreterSuffix()
	if fam == "glibc" && ver != "" {
		c.floor(CodeGlibcFloor, func(e ELF) string { return e.GlibcFloor }, ver, func(file, need string) string {
			return fmt.Sprintf("needs GLIBC_%s (in %s), host has glibc %s", need, file, ver)
		})
	}
	if c.h.Libc != nil && c.h.Libc.Libstdcxx != "" && !c.ships("libstdc++.so.6") {
		have := c.h.Libc.Libstdcxx
		c.floor(CodeGlibcxxFloor, func(e ELF) string { return e.GlibcxxFloor }, have, func(file, need string) string {
			return fmt.Sprintf("needs GLIBCXX_%s (in %s), host libstdc++ has GLIBCXX_%s", need, file, have)
		})
	}
	// What the tag promises: the lowest manylinux floor among its platforms.
	declared, declTag := "", ""
	for _, s := range c.fp.Tags {
		t, err := wheel.ParseTag(s)
		if err != nil {
			continue
		}
		if p, ok := ParsePlatform(t.Platform); ok && p.Libc == "glibc" && (declared == "" || CompareVersions(p.Floor, declared) < 0) {
			declared, declTag = p.Floor, t.Platform
		}
	}
	if declared != "" && c.fp.GlibcFloor != "" && CompareVersions(c.fp.GlibcFloor, declared) > 0 {
		file := c.fileWith(func(e ELF) string { return e.GlibcFloor }, c.fp.GlibcFloor)
		c.add(CodeTagUnderstates, Risk, file, "needs GLIBC_%s (in %s), but its tag %s declares glibc %s", c.fp.GlibcFloor, file, declTag, declared)
	}
}

// floor adds one finding for the highest version that files import loads
// need above have (incompatible), and one for the highest that files
// loaded on demand need above have (a risk).
func (c *checker) floor(code string, get func(ELF) string, have string, msg func(file, need string) string) {
	var loadedNeed, loadedFile, demandNeed, demandFile string
	for _, e := range c.fp.ELFs {
		need := get(e)
		if need == "" || VersionAtLeast(have, need) {
			continue
		}
		if c.onDemand(e.Path) {
			if CompareVersions(need, demandNeed) > 0 {
				demandNeed, demandFile = need, e.Path
			}
		} else if CompareVersions(need, loadedNeed) > 0 {
			loadedNeed, loadedFile = need, e.Path
		}
	}
	if loadedNeed != "" {
		c.add(code, Incompatible, loadedFile, "%s", msg(loadedFile, loadedNeed))
	}
	if demandNeed != "" && CompareVersions(demandNeed, loadedNeed) > 0 {
		c.add(code, Risk, demandFile, "loaded on demand: %s", msg(demandFile, demandNeed))
	}
}

// interpreterSuffix: an extension module named for another interpreter
// ("_C.cpython-312-….so" under CPython 3.11) is never found by import.
func (c *checker) interpreterSuffix() {
	py := c.h.Python
	if py == nil || py.Implementation != "" && py.Implementation != "cp" {
		return
	}
	hostABI := py.ABI
	if hostABI == "" {
		vs := strings.Split(py.Version, ".")
		if len(vs) < 2 {
			return
		}
		hostABI = "cp" + vs[0] + vs[1]
	}
	for _, e := range c.fp.ELFs {
		s, ok := IsExtensionModule(e.Path)
		if !ok || s.Interpreter == "" || strings.TrimSuffix(hostABI, "t") == s.Interpreter {
			continue
		}
		c.add(CodeExtensionSuffix, Incompatible, e.Path, "%s is an extension module for %s (its file name says so); %s %s will not import it",
			e.Path, s.Interpreter, hostABI, py.Version)
		return
	}
}

// ---- CPU ----

func isaName(level int) string {
	if level <= 1 {
		return "x86-64 baseline"
	}
	return fmt.Sprintf("x86-64-v%d", level)
}

func isaAdds(level int) string {
	return strings.Join(ISALevelFeatures[level], " ")
}

func (c *checker) isa() {
	if c.hostArch() != "x86_64" || c.h.CPU == nil || c.h.CPU.X86_64Level == 0 {
		return
	}
	hl := c.h.CPU.X86_64Level
	reported := map[bool]bool{}
	for _, e := range c.fp.ELFs {
		if e.Optional || e.ISALevel <= hl {
			continue
		}
		demand := c.onDemand(e.Path)
		lvl := 0
		for _, o := range c.fp.ELFs { // the highest level of this kind
			if !o.Optional && c.onDemand(o.Path) == demand {
				lvl = max(lvl, o.ISALevel)
			}
		}
		if e.ISALevel != lvl || reported[demand] {
			continue
		}
		reported[demand] = true
		c.fileFinding(CodeISALevel, Incompatible, e.Path, "needs %s (adds %s; in %s), host CPU is %s", isaName(lvl), isaAdds(lvl), e.Path, isaName(hl))
	}
	for _, e := range c.fp.ELFs {
		if e.Optional && e.ISALevel > hl {
			c.add(CodeISALevel, Risk, e.Path, "optional %s needs %s, host CPU is %s: the loader skips it", e.Path, isaName(e.ISALevel), isaName(hl))
		}
	}
}

// ---- CUDA ----
