package abi

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// This file holds the ABI rules as data: manylinux aliases, x86-64 ISA
// levels, CUDA driver floors, PTX ISA → toolkit, baseline libraries; and the
// small helpers that read them. Checks in check.go consult these tables and
// never hard-code a version.

// LegacyManylinux maps the pre-PEP 600 manylinux aliases to the glibc they need.
var LegacyManylinux = map[string]string{
	"manylinux1":    "2.5",
	"manylinux2010": "2.12",
	"manylinux2014": "2.17",
}

// ISALevelFeatures lists, per x86-64 micro-architecture level, the CPU features
// that level adds to the one below it (x86-64 psABI).
var ISALevelFeatures = map[int][]string{
	1: {"CMOV", "CX8", "FPU", "FXSR", "MMX", "OSFXSR", "SCE", "SSE", "SSE2"},
	2: {"CX16", "LAHF", "POPCNT", "SSE3", "SSSE3", "SSE4.1", "SSE4.2"},
	3: {"AVX", "AVX2", "BMI1", "BMI2", "F16C", "FMA", "LZCNT", "MOVBE", "OSXSAVE"},
	4: {"AVX512F", "AVX512BW", "AVX512CD", "AVX512DQ", "AVX512VL"},
}

// CUDAMinorCompatFloor is, per CUDA major, the oldest driver with which
// minor-version compatibility applies: any toolkit N.x runs on a driver of at
// least this version that supports N.0.
var CUDAMinorCompatFloor = map[int]string{
	11: "450.80.02",
	12: "525.60.13",
	13: "580.65.06",
}

// ToolkitDriver is one row of the minimum Linux driver per CUDA toolkit table.
type ToolkitDriver struct {
	Toolkit string // "12.2"
	Driver  string // "535.54.03"
}

// MinDriverForToolkit is the minimum Linux driver of each CUDA toolkit,
// ascending. Toolkits missing here (11.0–11.7, 12.3, 12.5, 12.7) fall back to
// the nearest lower row when a driver's CUDA version is derived.
var MinDriverForToolkit = []ToolkitDriver{
	{"11.0", "450.36.06"},
	{"11.1", "455.23"},
	{"11.2", "460.27.03"},
	{"11.4", "470.42.01"},
	{"11.8", "520.61.05"},
	{"12.0", "525.60.13"},
	{"12.1", "530.30.02"},
	{"12.2", "535.54.03"},
	{"12.4", "550.54.14"},
	{"12.6", "560.28.03"},
	{"12.8", "570.26"},
	{"12.9", "575.51.03"},
	{"13.0", "580.65.06"},
}

// PTXToolkit maps a PTX ISA version to the CUDA toolkit that introduced it:
// a driver must support at least that toolkit to JIT-compile the PTX.
var PTXToolkit = map[string]string{
	"7.0": "11.0", "7.1": "11.1", "7.2": "11.2", "7.3": "11.3", "7.4": "11.4",
	"7.5": "11.5", "7.6": "11.6", "7.7": "11.7", "7.8": "11.8",
	"8.0": "12.0", "8.1": "12.1", "8.2": "12.2", "8.3": "12.3", "8.4": "12.4",
	"8.5": "12.5", "8.6": "12.7", "8.7": "12.8", "8.8": "12.9",
	"9.0": "13.0",
}

// ManylinuxBaseline are libraries a manylinux wheel may expect from any host
// (PEP 513/599 and auditwheel's policy lists). libz.so.1 is deliberately not
// here: auditwheel dropped it from its policy, so a wheel needing it and not
// shipping it gets a missing_library finding. Names ending in "*" are prefixes.
var ManylinuxBaseline = []string{
	"libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1",
	"libgcc_s.so.1", "libstdc++.so.6", "libutil.so.1", "libcrypt.so.1",
	"libnsl.so.1", "libresolv.so.2",
	"libX11.so.6", "libXext.so.6", "libXrender.so.1", "libICE.so.6", "libSM.so.6",
	"libGL.so.1", "libgobject-2.0.so.0", "libgthread-2.0.so.0", "libglib-2.0.so.0",
	"ld-linux*", "ld64.so.*", "libpython*",
}

// MuslBaseline are libraries any musl host provides.
var MuslBaseline = []string{"libc.musl-*", "ld-musl-*", "libc.so"}

// IsBaselineLibrary reports whether soname is provided by every host of the family.
func IsBaselineLibrary(soname string) bool {
	for _, list := range [][]string{ManylinuxBaseline, MuslBaseline} {
		for _, b := range list {
			if p, ok := strings.CutSuffix(b, "*"); ok {
				if strings.HasPrefix(soname, p) {
					return true
				}
			} else if soname == b {
				return true
			}
		}
	}
	return false
}

// CompareVersions compares dotted numeric versions ("2.17" < "2.28",
// "535.104.05" > "535.54.03"); missing components count as 0 and a
// non-numeric component compares as 0. It returns -1, 0 or +1.
func CompareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
	}
	return 0
}

// VersionAtLeast reports whether have >= need (dotted versions).
func VersionAtLeast(have, need string) bool { return CompareVersions(have, need) >= 0 }

// MaxVersion returns the higher of two dotted versions; "" counts as lowest.
func MaxVersion(a, b string) string {
	if a == "" {
		return b
	}
	if b == "" || CompareVersions(a, b) >= 0 {
		return a
	}
	return b
}

// MajorOf returns the first component of a dotted version, 0 if none.
func MajorOf(v string) int {
	m, _, _ := strings.Cut(v, ".")
	n, _ := strconv.Atoi(m)
	return n
}

var (
	manylinuxRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^manylinux_([0-9]+)_([0-9]+)_(.+)$`) })
	musllinuxRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^musllinux_([0-9]+)_([0-9]+)_(.+)$`) })
	legacyRe    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(manylinux1|manylinux2010|manylinux2014)_(.+)$`) })
)

// Platform is a parsed platform tag.
type Platform struct {
	Libc string // "glibc", "musl", "" for linux_<arch>, "any" for any
	// Floor is the libc version the tag needs ("2.17"), "" when none.
	Floor string
	Arch  string // "x86_64", "aarch64", ...; "" for any
}

// ParsePlatform reads a platform tag: any, linux_<arch>, manylinux1/2010/2014_<arch>,
// manylinux_X_Y_<arch>, musllinux_X_Y_<arch>. ok is false for other (e.g. macOS,
// Windows) platforms.
func ParsePlatform(tag string) (p Platform, ok bool) {
	if tag == "any" {
		return Platform{Libc: "any"}, true
	}
	if m := manylinuxRe().FindStringSubmatch(tag); m != nil {
		return Platform{Libc: "glibc", Floor: m[1] + "." + m[2], Arch: m[3]}, true
	}
	if m := musllinuxRe().FindStringSubmatch(tag); m != nil {
		return Platform{Libc: "musl", Floor: m[1] + "." + m[2], Arch: m[3]}, true
	}
	if m := legacyRe().FindStringSubmatch(tag); m != nil {
		return Platform{Libc: "glibc", Floor: LegacyManylinux[m[1]], Arch: m[2]}, true
	}
	if a, ok := strings.CutPrefix(tag, "linux_"); ok && a != "" {
		return Platform{Arch: a}, true
	}
	return Platform{}, false
}

// DriverCUDAVersion derives the newest CUDA toolkit version a Linux driver
// supports from MinDriverForToolkit ("535.104.05" → "12.2"); "" when the
// driver predates every row.
func DriverCUDAVersion(driver string) string {
	best := ""
	for _, row := range MinDriverForToolkit {
		if VersionAtLeast(driver, row.Driver) {
			best = row.Toolkit
		}
	}
	return best
}

// MinDriver returns the minimum driver for a toolkit: its row in
// MinDriverForToolkit, or the nearest lower row's when the table has none
// (a lower bound then). ok is false when the toolkit predates the table.
func MinDriver(toolkit string) (string, bool) {
	driver := ""
	for _, row := range MinDriverForToolkit {
		if CompareVersions(row.Toolkit, toolkit) <= 0 {
			driver = row.Driver
		}
	}
	return driver, driver != ""
}

// ComputeCapability parses "8.0" into (8, 0).
func ComputeCapability(s string) (major, minor int, err error) {
	a, b, ok := strings.Cut(s, ".")
	if !ok {
		return 0, 0, fmt.Errorf("compute capability %q: want major.minor", s)
	}
	major, err1 := strconv.Atoi(a)
	minor, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || major < 0 || minor < 0 || minor > 9 {
		return 0, 0, fmt.Errorf("compute capability %q: want major.minor", s)
	}
	return major, minor, nil
}

// RunsOn reports whether GPU code e can run on a device of compute capability
// major.minor, and whether that takes a JIT compilation of PTX. A cubin sm_XY
// runs on X.Z with Z ≥ Y (same major); sm_XYa only on exactly X.Y; PTX
// compute_XY on any capability ≥ X.Y (compute_XYa only on X.Y). Whether the
// driver can JIT the PTX version is the caller's question.
func (e FatbinEntry) RunsOn(major, minor int) (ok, jit bool) {
	em, en := e.SM/10, e.SM%10 // sm_86 → 8.6, sm_120 → 12.0
	if e.ArchSpecific {
		return em == major && en == minor, e.Kind == KindPTX
	}
	if e.Kind == KindPTX {
		return major > em || (major == em && minor >= en), true
	}
	return major == em && minor >= en, false
}
