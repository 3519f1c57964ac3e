package probe

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/forge-ml/forge/abi"
)

// TagInputs is everything packaging.tags.sys_tags() consults, as data. It is
// what SysTags reads from an Interp and what DeriveTags rebuilds from a host
// profile, so the tag algorithm itself does no I/O.
type TagInputs struct {
	Implementation string // "cp", "pp", ...
	Major, Minor   int
	// PyVersionNodot is sysconfig's py_version_nodot ("312"); it names the
	// cpXY-none-any tag. Empty means Major and Minor joined.
	PyVersionNodot string
	PyDebug        bool // Py_DEBUG: the "d" ABI flag
	GilDisabled    bool // Py_GIL_DISABLED: the "t" ABI flag (3.13+)
	WithPymalloc   bool // the "m" ABI flag (before 3.8)
	// Platform is sysconfig.get_platform(): "linux-x86_64".
	Platform string
	Is32Bit  bool
	// SOABI and ExtSuffix name the ABI of a non-CPython interpreter.
	SOABI, ExtSuffix string
	// Glibc is the C library version the tags are for ("2.36"); empty for
	// none (a musl host), which yields no manylinux tags.
	Glibc string
	// Musl is the musl version ("1.2") the interpreter runs against; empty
	// on glibc hosts.
	Musl string
	// Packaging is the version of the packaging library whose sys_tags() is
	// reproduced ("21.3", "24.1"); empty means the newest behaviour known.
	Packaging string
}

// Behaviour changes of packaging.tags that change sys_tags() output for
// CPython on Linux, by the packaging release that introduced them.
var (
	pkgCpNoneAny  = [2]int{22, 0} // cpXY-none-any between py*-none-plat and py*-none-any
	pkgThreading  = [2]int{24, 0} // "t" ABI flag; no abi3 for free-threaded builds
	pkgArmv8l     = [2]int{24, 0} // 32-bit on aarch64 is armv8l (+armv7l), not armv7l
	pkgNewArchSet = [2]int{24, 0} // loongarch64 and riscv64 count as manylinux arches
)

// atLeast reports whether packaging version v is at least want; an empty or
// unreadable v is the newest behaviour.
func atLeast(v string, want [2]int) bool {
	if v == "" {
		return true
	}
	parts := strings.SplitN(v, ".", 3)
	maj, err := strconv.Atoi(parts[0])
	if err != nil {
		return true
	}
	min := 0
	if len(parts) > 1 {
		if m := leadingInt(parts[1]); m >= 0 {
			min = m
		}
	}
	return maj > want[0] || (maj == want[0] && min >= want[1])
}

func leadingInt(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return -1
	}
	n, _ := strconv.Atoi(s[:i])
	return n
}

// InputsOf returns the tag inputs of an interpreter on a host with the given
// glibc version ("" for none).
func InputsOf(in *Interp, glibc string) TagInputs {
	nodot := ""
	if v, ok := in.Config["py_version_nodot"].(string); ok {
		nodot = v
	}
	return TagInputs{
		Implementation: in.Implementation,
		Major:          in.Major,
		Minor:          in.Minor,
		PyVersionNodot: nodot,
		PyDebug:        in.PyDebug,
		GilDisabled:    in.GilDisabled,
		WithPymalloc:   in.WithPymalloc,
		Platform:       in.Platform,
		Is32Bit:        !in.Is64Bit,
		SOABI:          in.SOABI,
		ExtSuffix:      in.ExtSuffix,
		Glibc:          glibc,
		Musl:           in.Musl,
		Packaging:      in.Packaging,
	}
}

// SysTags returns the wheel tags the interpreter supports on a host with the
// given glibc version, most preferred first: exactly, in content and order,
// what packaging.tags.sys_tags() of the interpreter's own pip gives on Linux.
// glibc is "2.36" (it may differ from in.Libc to model another host); ""
// means no glibc.
func SysTags(in *Interp, glibc string) []string {
	return Tags(InputsOf(in, glibc))
}

// DeriveTags rebuilds python.tags for a host profile that omits them, from
// the profile's python and libc sections and its arch ("x86_64", "aarch64").
// A profile says nothing of debug or free-threaded builds, so a plain build
// is assumed, and the newest packaging behaviour. It returns nil when py is
// nil or its version is unreadable.
func DeriveTags(py *abi.Python, libc *abi.Libc, arch string) []string {
	if py == nil {
		return nil
	}
	major, minor, ok := majorMinor(py.Version)
	if !ok {
		return nil
	}
	impl := py.Implementation
	if impl == "" {
		impl = "cp"
	}
	in := TagInputs{
		Implementation: impl,
		Major:          major,
		Minor:          minor,
		Platform:       "linux-" + arch,
		WithPymalloc:   true,
	}
	// An ABI such as "cp313t" or "cp38d" carries the build's flags.
	if impl == "cp" && py.ABI != "" {
		flags := strings.TrimPrefix(py.ABI, fmt.Sprintf("cp%d%d", major, minor))
		in.GilDisabled = strings.Contains(flags, "t")
		in.PyDebug = strings.Contains(flags, "d")
		in.WithPymalloc = strings.Contains(flags, "m") || (major == 3 && minor >= 8)
	}
	if impl != "cp" {
		in.SOABI = py.ABI
		if py.ABI != "" {
			in.ExtSuffix = "." + py.ABI + "-" + arch + "-linux-gnu.so"
		}
	}
	if libc != nil {
		switch libc.Family {
		case "glibc":
			in.Glibc = libc.Version
		case "musl":
			if maj, min, ok := majorMinor(libc.Version); ok {
				in.Musl = fmt.Sprintf("%d.%d", maj, min)
			}
		}
	}
	return Tags(in)
}

var majorMinorRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([0-9]+)\.([0-9]+)`) })

func majorMinor(v string) (int, int, bool) {
	m := majorMinorRe().FindStringSubmatch(v)
	if m == nil {
		return 0, 0, false
	}
	a, err1 := strconv.Atoi(m[1])
	b, err2 := strconv.Atoi(m[2])
	return a, b, err1 == nil && err2 == nil
}

// Tags is packaging.tags.sys_tags() for in, on Linux.
func Tags(in TagInputs) []string {
	plats := linuxPlatforms(in)
	var out []string
	if in.Implementation == "cp" {
		out = cpythonTags(in, plats)
	} else {
		out = genericTags(in, plats)
	}
	var interp string
	switch in.Implementation {
	case "pp":
		interp = "pp3"
	case "cp":
		if atLeast(in.Packaging, pkgCpNoneAny) {
			nodot := in.PyVersionNodot
			if nodot == "" {
				nodot = fmt.Sprintf("%d%d", in.Major, in.Minor)
			}
			interp = "cp" + nodot
		}
	}
	return append(out, compatibleTags(in, interp, plats)...)
}

func cpythonABIs(in TagInputs) []string {
	version := fmt.Sprintf("%d%d", in.Major, in.Minor)
	var threading, debug, pymalloc string
	if in.PyDebug {
		debug = "d"
	}
	if atLeast(in.Packaging, pkgThreading) && in.GilDisabled && (in.Major > 3 || (in.Major == 3 && in.Minor >= 13)) {
		threading = "t"
	}
	var abis []string
	if in.Major == 3 && in.Minor < 8 {
		if in.WithPymalloc {
			pymalloc = "m"
		}
		// Python < 3.3 (ucs4 "u") is out of forge's range.
	} else if debug != "" {
		// Debug builds also load normal extension modules.
		abis = append(abis, "cp"+version+threading)
	}
	return append([]string{"cp" + version + threading + debug + pymalloc}, abis...)
}

func cpythonTags(in TagInputs, plats []string) []string {
	interp := fmt.Sprintf("cp%d%d", in.Major, in.Minor)
	abis := cpythonABIs(in)
	var out []string
	for _, a := range abis {
		for _, p := range plats {
			out = append(out, interp+"-"+a+"-"+p)
		}
	}
	threaded := false
	if atLeast(in.Packaging, pkgThreading) {
		m := regexp.MustCompile(`^cp\d+(.*)`).FindStringSubmatch(abis[0])
		threaded = m != nil && strings.Contains(m[1], "t")
	}
	useABI3 := (in.Major > 3 || (in.Major == 3 && in.Minor >= 2)) && !threaded
	if useABI3 {
		for _, p := range plats {
			out = append(out, interp+"-abi3-"+p)
		}
	}
	for _, p := range plats {
		out = append(out, interp+"-none-"+p)
	}
	if useABI3 {
		for minor := in.Minor - 1; minor > 1; minor-- {
			older := fmt.Sprintf("cp%d%d", in.Major, minor)
			for _, p := range plats {
				out = append(out, older+"-abi3-"+p)
			}
		}
	}
	return out
}

// genericTags covers PyPy and other non-CPython interpreters: their ABI comes
// from EXT_SUFFIX (packaging ≥ 23) or SOABI (older).
func genericTags(in TagInputs, plats []string) []string {
	name := in.Implementation
	version := in.PyVersionNodot
	if version == "" {
		version = fmt.Sprintf("%d%d", in.Major, in.Minor)
	}
	interp := name + version
	var abis []string
	if atLeast(in.Packaging, [2]int{23, 0}) {
		parts := strings.Split(in.ExtSuffix, ".")
		if len(parts) >= 3 {
			soabi := parts[1]
			var a string
			switch {
			case strings.HasPrefix(soabi, "cpython"):
				if f := strings.Split(soabi, "-"); len(f) > 1 {
					a = "cp" + f[1]
				}
			case strings.HasPrefix(soabi, "cp"):
				a = strings.Split(soabi, "-")[0]
			case strings.HasPrefix(soabi, "pypy"):
				a = joinFirst(strings.Split(soabi, "-"), 2)
			case strings.HasPrefix(soabi, "graalpy"):
				a = joinFirst(strings.Split(soabi, "-"), 3)
			default:
				a = soabi
			}
			if a != "" {
				abis = append(abis, normalizeTagString(a, in.Packaging))
			}
		}
	} else if in.SOABI != "" {
		abis = append(abis, normalizeTagString(in.SOABI, in.Packaging))
	}
	abis = append(abis, "none")
	var out []string
	for _, a := range abis {
		for _, p := range plats {
			out = append(out, interp+"-"+a+"-"+p)
		}
	}
	return out
}

func joinFirst(s []string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.Join(s, "-")
}

func normalizeTagString(s, packaging string) string {
	s = strings.NewReplacer(".", "_", "-", "_").Replace(s)
	if atLeast(packaging, [2]int{23, 1}) {
		s = strings.ReplaceAll(s, " ", "_")
	}
	return s
}

func pyInterpreterRange(in TagInputs) []string {
	out := []string{fmt.Sprintf("py%d%d", in.Major, in.Minor), fmt.Sprintf("py%d", in.Major)}
	for minor := in.Minor - 1; minor >= 0; minor-- {
		out = append(out, fmt.Sprintf("py%d%d", in.Major, minor))
	}
	return out
}

func compatibleTags(in TagInputs, interp string, plats []string) []string {
	var out []string
	versions := pyInterpreterRange(in)
	for _, v := range versions {
		for _, p := range plats {
			out = append(out, v+"-none-"+p)
		}
	}
	if interp != "" {
		out = append(out, interp+"-none-any")
	}
	for _, v := range versions {
		out = append(out, v+"-none-any")
	}
	return out
}

// linuxPlatforms is packaging's _linux_platforms: manylinux, then musllinux,
// then the plain linux_<arch> tags.
func linuxPlatforms(in TagInputs) []string {
	linux := normalizeTagString(in.Platform, in.Packaging)
	if !strings.HasPrefix(linux, "linux_") {
		return []string{linux}
	}
	newer := atLeast(in.Packaging, pkgArmv8l)
	if in.Is32Bit {
		switch linux {
		case "linux_x86_64":
			linux = "linux_i686"
		case "linux_aarch64":
			if newer {
				linux = "linux_armv8l"
			} else {
				linux = "linux_armv7l"
			}
		}
	}
	arch := strings.TrimPrefix(linux, "linux_")
	archs := []string{arch}
	if newer && arch == "armv8l" {
		archs = []string{"armv8l", "armv7l"}
	}
	var out []string
	out = append(out, manylinuxTags(in, archs)...)
	out = append(out, musllinuxTags(in, archs)...)
	for _, a := range archs {
		out = append(out, "linux_"+a)
	}
	return out
}

// lastGlibcMinor is packaging's guess of the last minor of an older glibc
// major, should glibc 3 ever appear.
const lastGlibcMinor = 50

var legacyManylinux = map[[2]int]string{
	{2, 17}: "manylinux2014",
	{2, 12}: "manylinux2010",
	{2, 5}:  "manylinux1",
}

func manylinuxArchOK(in TagInputs, archs []string) bool {
	allowed := map[string]bool{"x86_64": true, "aarch64": true, "ppc64": true, "ppc64le": true, "s390x": true}
	if atLeast(in.Packaging, pkgNewArchSet) {
		allowed["loongarch64"], allowed["riscv64"] = true, true
	}
	for _, a := range archs {
		// packaging reads the interpreter's ELF header for these; a 32-bit
		// interpreter reporting them is taken to be the matching ABI.
		if a == "armv7l" || a == "i686" {
			return true
		}
	}
	if !atLeast(in.Packaging, pkgNewArchSet) {
		return allowed[archs[0]]
	}
	for _, a := range archs {
		if allowed[a] {
			return true
		}
	}
	return false
}

func manylinuxTags(in TagInputs, archs []string) []string {
	if in.Glibc == "" || !manylinuxArchOK(in, archs) {
		return nil
	}
	major, minor, ok := majorMinor(in.Glibc)
	if !ok || minor > maxLibcMinor {
		return nil
	}
	tooOld := [2]int{2, 16}
	for _, a := range archs {
		if a == "x86_64" || a == "i686" {
			tooOld = [2]int{2, 4}
		}
	}
	maxList := [][2]int{{major, minor}}
	for m := major - 1; m > 1; m-- {
		maxList = append(maxList, [2]int{m, lastGlibcMinor})
	}
	var out []string
	for _, arch := range archs {
		for _, gmax := range maxList {
			minMinor := -1
			if gmax[0] == tooOld[0] {
				minMinor = tooOld[1]
			}
			for m := gmax[1]; m > minMinor; m-- {
				out = append(out, fmt.Sprintf("manylinux_%d_%d_%s", gmax[0], m, arch))
				if legacy, ok := legacyManylinux[[2]int{gmax[0], m}]; ok {
					out = append(out, legacy+"_"+arch)
				}
			}
		}
	}
	return out
}

// maxLibcMinor bounds the libc minor versions tags are derived for: one
// tag per minor below it, so a profile claiming glibc 2.9999997 would
// otherwise make tens of millions (found by FuzzDeriveTags).
const maxLibcMinor = 999

func musllinuxTags(in TagInputs, archs []string) []string {
	major, minor, ok := majorMinor(in.Musl)
	if !ok || minor > maxLibcMinor {
		return nil
	}
	var out []string
	for _, arch := range archs {
		for m := minor; m >= 0; m-- {
			out = append(out, fmt.Sprintf("musllinux_%d_%d_%s", major, m, arch))
		}
	}
	return out
}
