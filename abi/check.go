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

// CUDAMajor is the CUDA major the wheel's code needs and where that was read
// from, the strongest evidence first: libcudart.so.N in an ELF member, the
// +cuXYZ local version, a nvidia-*-cuNN distribution name (the wheel is
// itself a CUDA N library), nvidia-*-cuN requirements, the newest PTX ISA
// in its GPU code (NVIDIA's libraries link the runtime statically: no
// libcudart.so.N names their CUDA, but the PTX their toolkit wrote does).
// Evidence of several kinds is combined by taking the highest major. 0 when
// the wheel needs no CUDA.
func (fp *Fingerprint) CUDAMajor() (int, string) {
	best, src := 0, ""
	consider := func(n int, why string) {
		if n > best {
			best, src = n, why
		}
	}
	loaded := fp.Loaded()
	for _, wantLoaded := range []bool{true, false} { // name a file import loads first
		for _, e := range fp.ELFs {
			if e.CUDARuntimeMajor > 0 && loaded[e.Path] == wantLoaded {
				consider(e.CUDARuntimeMajor, fmt.Sprintf("libcudart.so.%d in %s", e.CUDARuntimeMajor, e.Path))
			}
		}
	}
	if fl := fp.CUDAFlavour; fl != "" && fl != "cpu" {
		consider(MajorOf(fl), "version "+fp.Version)
	}
	if n := NvidiaCUDAMajor(fp.Name); n > 0 {
		consider(n, "distribution "+wheel.NormalizeName(fp.Name))
	}
	for _, r := range fp.NvidiaRequires {
		consider(NvidiaCUDAMajor(r), "requires "+r)
	}
	for _, e := range fp.ELFs {
		if loaded[e.Path] {
			if ev := fileCUDA(e); ev.major > 0 {
				consider(ev.major, ev.evidence)
			}
		}
	}
	return best, src
}

// hostCUDA is the CUDA version the host's driver supports, "" without a driver.
func (c *checker) hostCUDA() string {
	if c.h.CUDA == nil {
		return ""
	}
	if c.h.CUDA.CUDAVersion != "" {
		return c.h.CUDA.CUDAVersion
	}
	return DriverCUDAVersion(c.h.CUDA.DriverVersion)
}

func (c *checker) cuda() {
	if c.h.CUDA == nil {
		// The CUDA runtime loads without a driver; libcuda.so.1 is the driver.
		if e, ok := c.firstFile(func(e ELF) bool { return e.LinksLibcuda }); ok {
			c.fileFinding(CodeCUDADriver, Incompatible, e.Path, "%s links libcuda.so.1, host has no NVIDIA driver", e.Path)
		}
		return
	}
	need, src := c.fp.CUDAMajor()
	have, driver := c.hostCUDA(), c.h.CUDA.DriverVersion
	if need > 0 {
		if have == "" {
			c.add(CodeCUDADriver, Risk, "", "needs CUDA %d (%s), host driver %s supports an unknown CUDA version", need, src, driver)
			return
		}
		if MajorOf(have) < need {
			c.add(CodeCUDADriver, Incompatible, "", "needs a driver for CUDA %d (%s), host driver %s supports CUDA %s", need, src, driver, have)
			return
		}
	}
	if have != "" {
		// Files loaded on demand may need more than what import loads.
		for _, e := range c.fp.ELFs {
			if ev := fileCUDA(e); ev.major > max(need, MajorOf(have)) && c.onDemand(e.Path) {
				c.fileFinding(CodeCUDADriver, Risk, e.Path, "%s needs a driver for CUDA %d (%s), host driver %s supports CUDA %s", e.Path, ev.major, ev.evidence, driver, have)
				break
			}
		}
	}
	if need == 0 {
		return
	}
	hm := MajorOf(have)
	// The toolkit the wheel was built with: its +cuXYZ flavour, else the
	// newest PTX ISA of a file import loads (a library that links the
	// runtime statically and carries PTX 8.4 was built by CUDA 12.4).
	fl, src := c.fp.CUDAFlavour, "version "+c.fp.Version
	if fl == "" || fl == "cpu" {
		fl, src = "", ""
		for _, e := range c.fp.ELFs {
			if ev := fileCUDA(e); ev.toolkit != "" && !c.onDemand(e.Path) && CompareVersions(ev.toolkit, fl) > 0 {
				fl, src = ev.toolkit, ev.evidence
			}
		}
	}
	if hm == need && fl != "" && MajorOf(fl) == need && CompareVersions(fl, have) > 0 {
		floor, known := CUDAMinorCompatFloor[need]
		if known && driver != "" && !VersionAtLeast(driver, floor) {
			c.add(CodeCUDADriver, Incompatible, "", "built with CUDA %s (%s), host driver %s supports CUDA %s and is below %s, the minor-version compatibility floor of CUDA %d",
				fl, src, driver, have, floor, need)
			return
		}
		c.add(CodeCUDAMinorCompat, Risk, "", "built with CUDA %s (%s), host driver %s supports CUDA %s: runs through minor-version compatibility (needs driver >= %s); features of CUDA %s and PTX from it are unavailable",
			fl, src, driver, have, floor, fl)
	}
}

// ---- GPUs ----

// VisibleGPUs returns the host's GPUs that CUDA_VISIBLE_DEVICES-style list
// vis lets a process see, in list order: nil vis means all, "" none; entries
// are indexes or (prefixes of) UUIDs; as in CUDA, the list stops at the first
// entry that matches no device.
func VisibleGPUs(h *Host, vis *string) []GPU {
	if h.CUDA == nil {
		return nil
	}
	if vis == nil {
		return slices.Clone(h.CUDA.Devices)
	}
	var out []GPU
	seen := map[int]bool{}
	for _, tok := range strings.Split(*vis, ",") {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			break
		}
		found := -1
		if n, err := strconv.Atoi(tok); err == nil {
			for i, d := range h.CUDA.Devices {
				if d.Index == n {
					found = i
				}
			}
		} else {
			for i, d := range h.CUDA.Devices {
				if d.UUID != "" && strings.HasPrefix(d.UUID, tok) {
					found = i
					break
				}
			}
		}
		if found < 0 || seen[found] {
			break
		}
		seen[found] = true
		out = append(out, h.CUDA.Devices[found])
	}
	return out
}

func gpuText(d GPU) string {
	name := d.Name
	if name == "" {
		name = "GPU"
	}
	return fmt.Sprintf("GPU %d (%s, compute capability %s)", d.Index, name, d.ComputeCapability)
}

func codeList(code []FatbinEntry) string {
	var s []string
	for _, e := range code {
		x := e.String()
		if e.Kind == KindPTX && e.PTXVersion != "" {
			x += " (PTX " + e.PTXVersion + ")"
		}
		s = append(s, x)
	}
	return strings.Join(s, ", ")
}

// coverage says how a GPU can run one file's code: by a cubin, only by
// JIT-compiling PTX, not at all (why says so), or unknown: only entries of a
// kind forge cannot read might hold code for it.
type coverage int

const (
	uncovered coverage = iota
	unknownCover
	byPTX
	byCubin
)

// cover decides how GPU d runs code.
func (c *checker) cover(code []FatbinEntry, d GPU) (coverage, string) {
	major, minor, err := ComputeCapability(d.ComputeCapability)
	if err != nil {
		return uncovered, "unknown compute capability"
	}
	have := c.hostCUDA()
	best, why := uncovered, ""
	for _, e := range code {
		if e.Kind == KindUnknown {
			if e.SM/10 <= major && best < unknownCover {
				best = unknownCover
			}
			continue
		}
		ok, jit := e.RunsOn(major, minor)
		if !ok {
			continue
		}
		if !jit {
			return byCubin, ""
		}
		if e.PTXVersion != "" {
			tk, known := PTXToolkit[e.PTXVersion]
			if !known && CompareVersions(e.PTXVersion, newestPTX()) > 0 {
				why = fmt.Sprintf("%s is PTX %s, newer than any toolkit forge knows", e, e.PTXVersion)
				continue
			}
			if known && (have == "" || CompareVersions(tk, have) > 0) {
				why = fmt.Sprintf("%s is PTX %s (CUDA %s), the driver can JIT up to CUDA %s", e, e.PTXVersion, tk, have)
				continue
			}
		}
		best = byPTX
	}
	return best, why
}

// newestPTX is the newest PTX ISA version in PTXToolkit.
var newestPTX = sync.OnceValue(func() string {
	best := ""
	for v := range PTXToolkit {
		best = MaxVersion(best, v)
	}
	return best
})

func gpuShort(d GPU) string { return fmt.Sprintf("GPU %d (%s)", d.Index, d.ComputeCapability) }

// gpu decides coverage per ELF file a GPU would load, never pooled over the
// wheel: a vendored library with only PTX is a JIT risk even when the
// package's main library has cubins. Each finding names its file.
func (c *checker) gpu() {
	if len(c.fp.GPUCode) == 0 {
		return
	}
	vis := c.h.VisibleDevices
	if c.opts.VisibleDevices != nil {
		vis = c.opts.VisibleDevices
	}
	gpus := VisibleGPUs(c.h, vis)
	if len(gpus) == 0 {
		why := "host has no NVIDIA driver"
		if c.h.CUDA != nil && len(c.h.CUDA.Devices) == 0 {
			why = "host has no GPU"
		} else if c.h.CUDA != nil {
			why = fmt.Sprintf("no GPU is visible (visible devices %q)", *vis)
		}
		c.add(CodeNoGPU, Risk, "", "has GPU code (%s) but %s", codeList(c.fp.GPUCode), why)
		return
	}
	for _, e := range c.fp.ELFs {
		if len(e.GPUCode) > 0 {
			c.gpuFile(e, gpus)
		}
	}
}

func (c *checker) gpuFile(e ELF, gpus []GPU) {
	var bad, jit, unknown []string
	for _, d := range gpus {
		cov, why := c.cover(e.GPUCode, d)
		switch cov {
		case uncovered:
			s := gpuText(d)
			if why != "" {
				s += ": " + why
			}
			bad = append(bad, s)
		case unknownCover:
			unknown = append(unknown, gpuShort(d))
		case byPTX:
			jit = append(jit, gpuShort(d))
		}
	}
	switch {
	case len(bad) == len(gpus):
		c.fileFinding(CodeGPUArch, Incompatible, e.Path, "%s: no kernel image for %s; it has %s", e.Path, strings.Join(bad, ", "), codeList(e.GPUCode))
	case len(bad) > 0:
		c.fileFinding(CodeGPUArch, Risk, e.Path, "%s: no kernel image for %s (other visible GPUs are covered); it has %s", e.Path, strings.Join(bad, ", "), codeList(e.GPUCode))
	}
	if len(unknown) > 0 {
		c.fileFinding(CodeGPUCodeUnknown, Risk, e.Path, "%s: coverage of %s unknown: no readable kernel, and fatbin entries of a kind forge cannot read (%s) may hold one", e.Path, strings.Join(unknown, ", "), codeList(unknownCode(e.GPUCode)))
	}
	if len(jit) > 0 {
		c.fileFinding(CodePTXJIT, Risk, e.Path, "%s: only PTX %s for %s: JIT compilation at first start", e.Path, codeList(ptxCode(e.GPUCode)), strings.Join(jit, ", "))
	}
}

func unknownCode(code []FatbinEntry) []FatbinEntry {
	var out []FatbinEntry
	for _, e := range code {
		if e.Kind == KindUnknown {
			out = append(out, e)
		}
	}
	return out
}

func ptxCode(code []FatbinEntry) []FatbinEntry {
	var out []FatbinEntry
	for _, e := range code {
		if e.Kind == KindPTX {
			out = append(out, e)
		}
	}
	return out
}

// ---- libraries ----

// libraries resolves every DT_NEEDED of every file as the loader would
// (loader.go) and reports, per file, what it would not find: one finding
// for the libraries found nowhere and one for each library the environment
// has off the file's search path (that one is a layout to fix). Libraries
// lists the sonames.
func (c *checker) libraries() {
	for _, e := range c.fp.ELFs {
		var nowhere []string
		var searched []string
		for _, n := range e.Needed {
			r := c.resolve(e, n)
			if r.found {
				continue
			}
			if r.elsewhere != "" {
				c.out = append(c.out, Finding{Code: CodeMissingLibrary, Severity: Risk, File: e.Path, Libraries: []string{n},
					Message: fmt.Sprintf("%sneeds %s (in %s): not on its search path (%s); the environment has it at %s, where the loader does not look",
						c.demandNote(e.Path), n, e.Path, dirList(r.searched), r.elsewhere)})
				continue
			}
			nowhere, searched = append(nowhere, n), r.searched
		}
		if len(nowhere) == 0 {
			continue
		}
		where := "not in the wheel, the environment's layers or the host's libraries"
		if len(searched) > 0 {
			where = "not on its search path (" + dirList(searched) + ") nor among the host's libraries"
		}
		c.out = append(c.out, Finding{Code: CodeMissingLibrary, Severity: Risk, File: e.Path, Libraries: nowhere,
			Message: fmt.Sprintf("%sneeds %s (in %s): %s", c.demandNote(e.Path), strings.Join(nowhere, ", "), e.Path, where)})
	}
}

// dirList names at most three directories of a search path.
func dirList(dirs []string) string {
	if len(dirs) <= 3 {
		return strings.Join(dirs, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(dirs[:3], ", "), len(dirs)-3)
}
