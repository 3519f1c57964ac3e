package abi

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
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
)

// CheckOptions carries what Check needs beyond the fingerprint and the host.
type CheckOptions struct {
	// ProvidedLibs are sonames the environment's other layers provide
	// (e.g. libcudart.so.12 from nvidia-cuda-runtime-cu12). Check reads
	// them only to look up the fingerprint's Needed (Evaluator relies on it).
	ProvidedLibs []string
	// VisibleDevices, when non-nil, replaces Host.VisibleDevices
	// (CUDA_VISIBLE_DEVICES semantics: nil all, "" none).
	VisibleDevices *string
}

// Check compares what a wheel needs with what a host has. It is pure: the
// same inputs give the same findings, in a fixed order. fp's reading problems
// (malformed ELF/fatbin) come first.
func Check(fp *Fingerprint, h *Host, opts CheckOptions) []Finding {
	c := checker{fp: fp, h: h, opts: opts}
	c.out = append(c.out, fp.Problems...)
	c.tags()
	c.arch()
	c.libc()
	c.isa()
	c.cuda()
	c.gpu()
	c.libraries()
	return c.out
}

type checker struct {
	fp   *Fingerprint
	h    *Host
	opts CheckOptions
	out  []Finding
}

func (c *checker) add(code string, sev Severity, file, format string, args ...any) {
	c.out = append(c.out, Finding{Code: code, Severity: sev, File: file, Message: fmt.Sprintf(format, args...)})
}

// hostArch is the host architecture in platform-tag spelling.
func (c *checker) hostArch() string {
	switch c.h.Arch {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	}
	return c.h.Arch
}

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
	var tags []Tag
	for _, s := range c.fp.Tags {
		if t, err := ParseTag(s); err == nil {
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
		for _, s := range c.h.Python.Tags {
			if t, err := ParseTag(s); err == nil {
				interps[t.Interpreter] = true
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
				why = append(why, "ABI "+t.ABI+" not supported for "+t.Interpreter)
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
	c.add(CodeTagUnsupported, Incompatible, "", "no wheel tag is supported by host %s (%s): %s",
		c.h.Name, c.pythonText(), strings.Join(reasons, ", "))
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
func (c *checker) tagProblems(t Tag) []string {
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

func (c *checker) arch() {
	ha := c.hostArch()
	if ha == "" {
		return
	}
	for _, m := range c.fp.Machines {
		if m != ha {
			file := c.fileWith(func(e ELF) string { return e.Machine }, m)
			c.add(CodeArch, Incompatible, file, "%s is built for %s, host is %s", file, m, ha)
		}
	}
}

func (c *checker) libc() {
	fam, ver := c.hostLibc()
	if c.fp.LibcFamily != "" && fam != "" && c.fp.LibcFamily != fam {
		file := c.fileWith(func(e ELF) string { return e.Libc }, c.fp.LibcFamily)
		c.add(CodeLibcFamily, Incompatible, file, "%s is built against %s, host has %s", file, c.fp.LibcFamily, c.hostLibcText())
		return
	}
	if fam == "glibc" && ver != "" && c.fp.GlibcFloor != "" && !VersionAtLeast(ver, c.fp.GlibcFloor) {
		file := c.fileWith(func(e ELF) string { return e.GlibcFloor }, c.fp.GlibcFloor)
		c.add(CodeGlibcFloor, Incompatible, file, "needs GLIBC_%s (in %s), host has glibc %s", c.fp.GlibcFloor, file, ver)
	}
	if c.h.Libc != nil && c.h.Libc.Libstdcxx != "" && c.fp.GlibcxxFloor != "" &&
		!VersionAtLeast(c.h.Libc.Libstdcxx, c.fp.GlibcxxFloor) && !c.ships("libstdc++.so.6") {
		file := c.fileWith(func(e ELF) string { return e.GlibcxxFloor }, c.fp.GlibcxxFloor)
		c.add(CodeGlibcxxFloor, Incompatible, file, "needs GLIBCXX_%s (in %s), host libstdc++ has GLIBCXX_%s", c.fp.GlibcxxFloor, file, c.h.Libc.Libstdcxx)
	}
	// What the tag promises: the lowest manylinux floor among its platforms.
	declared, declTag := "", ""
	for _, s := range c.fp.Tags {
		t, err := ParseTag(s)
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

// ships reports whether the wheel contains a member with that file name or soname.
func (c *checker) ships(soname string) bool {
	for _, e := range c.fp.ELFs {
		if path.Base(e.Path) == soname || e.Soname == soname {
			return true
		}
	}
	return false
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
	if c.fp.ISALevel > hl {
		file := ""
		for _, e := range c.fp.ELFs {
			if !e.Optional && e.ISALevel == c.fp.ISALevel {
				file = e.Path
				break
			}
		}
		c.add(CodeISALevel, Incompatible, file, "needs %s (adds %s; in %s), host CPU is %s", isaName(c.fp.ISALevel), isaAdds(c.fp.ISALevel), file, isaName(hl))
	}
	for _, e := range c.fp.ELFs {
		if e.Optional && e.ISALevel > hl {
			c.add(CodeISALevel, Risk, e.Path, "optional %s needs %s, host CPU is %s: the loader skips it", e.Path, isaName(e.ISALevel), isaName(hl))
		}
	}
}

// ---- CUDA ----

// CUDAMajor is the CUDA major the wheel's code needs and where that was read
// from: libcudart.so.N in an ELF member, else the +cuXYZ local version, else
// nvidia-*-cuN requirements. 0 when the wheel needs no CUDA.
func (fp *Fingerprint) CUDAMajor() (int, string) {
	if fp.CUDARuntimeMajor > 0 {
		for _, e := range fp.ELFs {
			if e.CUDARuntimeMajor == fp.CUDARuntimeMajor {
				return fp.CUDARuntimeMajor, fmt.Sprintf("libcudart.so.%d in %s", fp.CUDARuntimeMajor, e.Path)
			}
		}
		return fp.CUDARuntimeMajor, fmt.Sprintf("libcudart.so.%d", fp.CUDARuntimeMajor)
	}
	if fl := fp.CUDAFlavour; fl != "" && fl != "cpu" {
		return MajorOf(fl), "version " + fp.Version
	}
	best, src := 0, ""
	for _, r := range fp.NvidiaRequires {
		if n := NvidiaCUDAMajor(r); n > best {
			best, src = n, "requires "+r
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
	need, src := c.fp.CUDAMajor()
	if c.h.CUDA == nil {
		if c.fp.LinksLibcuda {
			file := ""
			for _, e := range c.fp.ELFs {
				if e.LinksLibcuda {
					file = e.Path
					break
				}
			}
			c.add(CodeCUDADriver, Incompatible, file, "links libcuda.so.1 (in %s), host has no NVIDIA driver", file)
		}
		return
	}
	if need == 0 {
		return
	}
	have, driver := c.hostCUDA(), c.h.CUDA.DriverVersion
	if have == "" {
		c.add(CodeCUDADriver, Risk, "", "needs CUDA %d (%s), host driver %s supports an unknown CUDA version", need, src, driver)
		return
	}
	hm := MajorOf(have)
	if hm < need {
		c.add(CodeCUDADriver, Incompatible, "", "needs a driver for CUDA %d (%s), host driver %s supports CUDA %s", need, src, driver, have)
		return
	}
	fl := c.fp.CUDAFlavour
	if hm == need && fl != "" && fl != "cpu" && MajorOf(fl) == need && CompareVersions(fl, have) > 0 {
		floor, known := CUDAMinorCompatFloor[need]
		if known && driver != "" && !VersionAtLeast(driver, floor) {
			c.add(CodeCUDADriver, Incompatible, "", "built with CUDA %s (version %s), host driver %s supports CUDA %s and is below %s, the minor-version compatibility floor of CUDA %d",
				fl, c.fp.Version, driver, have, floor, need)
			return
		}
		c.add(CodeCUDAMinorCompat, Risk, "", "built with CUDA %s (version %s), host driver %s supports CUDA %s: runs through minor-version compatibility (needs driver >= %s); features of CUDA %s and PTX from it are unavailable",
			fl, c.fp.Version, driver, have, floor, fl)
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

// coverage says how a GPU can run the wheel's code: by a cubin, only by
// JIT-compiling PTX, or not at all (why says so).
type coverage int

const (
	uncovered coverage = iota
	byPTX
	byCubin
)

func (c *checker) cover(d GPU) (coverage, string) {
	major, minor, err := ComputeCapability(d.ComputeCapability)
	if err != nil {
		return uncovered, "unknown compute capability"
	}
	have := c.hostCUDA()
	best, why := uncovered, ""
	for _, e := range c.fp.GPUCode {
		ok, jit := e.RunsOn(major, minor)
		if !ok {
			continue
		}
		if !jit {
			return byCubin, ""
		}
		if e.PTXVersion != "" {
			tk, known := PTXToolkit[e.PTXVersion]
			if !known && CompareVersions(e.PTXVersion, "9.0") > 0 {
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
	var bad, jit []string
	for _, d := range gpus {
		cov, why := c.cover(d)
		switch cov {
		case uncovered:
			s := gpuText(d)
			if why != "" {
				s += ": " + why
			}
			bad = append(bad, s)
		case byPTX:
			jit = append(jit, gpuText(d))
		}
	}
	switch {
	case len(bad) == len(gpus):
		c.add(CodeGPUArch, Incompatible, "", "no kernel image for %s; wheel has %s", strings.Join(bad, ", "), codeList(c.fp.GPUCode))
	case len(bad) > 0:
		c.add(CodeGPUArch, Risk, "", "no kernel image for %s (other visible GPUs are covered); wheel has %s", strings.Join(bad, ", "), codeList(c.fp.GPUCode))
	}
	if len(jit) > 0 {
		c.add(CodePTXJIT, Risk, "", "%s only covered by PTX: JIT compilation at first start; wheel has %s", strings.Join(jit, ", "), codeList(c.fp.GPUCode))
	}
}

// ---- libraries ----

func (c *checker) libraries() {
	for _, n := range c.fp.Needed {
		if n == libcudaSoname || IsBaselineLibrary(n) || slices.Contains(c.opts.ProvidedLibs, n) || slices.Contains(c.h.Libraries, n) {
			continue
		}
		file := ""
		for _, e := range c.fp.ELFs {
			if slices.Contains(e.Needed, n) {
				file = e.Path
				break
			}
		}
		c.add(CodeMissingLibrary, Risk, file, "needs %s (in %s): not in the wheel, the environment's layers or the host's libraries", n, file)
	}
}
