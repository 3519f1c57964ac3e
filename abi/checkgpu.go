package abi

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/forge-ml/forge/wheel"
)

// The CUDA and GPU-code checks of Check: the CUDA floor against the
// driver, and each loaded file's cubins and PTX against every visible GPU.

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
		c.fileFinding(CodeGPUCodeUnknown, Risk, e.Path, "%s: coverage of %s unknown: no readable kernel, and fatbin entries of a kind forge cannot read (%s) may hold one", e.Path, strings.Join(unknown, ", "), codeList(codeOfKind(e.GPUCode, KindUnknown)))
	}
	if len(jit) > 0 {
		c.fileFinding(CodePTXJIT, Risk, e.Path, "%s: only PTX %s for %s: JIT compilation at first start", e.Path, codeList(codeOfKind(e.GPUCode, KindPTX)), strings.Join(jit, ", "))
	}
}

// codeOfKind returns the entries of code of the given kind (KindPTX, ...).
func codeOfKind(code []FatbinEntry, kind string) []FatbinEntry {
	var out []FatbinEntry
	for _, e := range code {
		if e.Kind == kind {
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
