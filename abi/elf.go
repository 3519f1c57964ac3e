package abi

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/forge-ml/forge/wheel"
)

// Stable codes of the findings made while reading a wheel.
const (
	CodeMalformedELF    = "malformed_elf"
	CodeMalformedFatbin = "malformed_fatbin"
)

// GNU property note constants (x86-64 psABI).
const (
	ntGNUPropertyType0     = 5
	gnuPropertyX86ISANeed  = 0xc0008002
	maxNoteSection         = 1 << 20
	maxFatbinSection       = 1 << 36 // read through, never loaded: bounded by the file
	hwcapsDirPrefix        = "glibc-hwcaps/x86-64-v"
	cudartPrefix           = "libcudart.so."
	libcudaSoname          = "libcuda.so.1"
	muslInterpPrefix       = "ld-musl-"
	muslNeededPrefix       = "libc.musl-"
	glibcVersionPrefix     = "GLIBC_"
	glibcxxVersionPrefix   = "GLIBCXX_"
	cxxabiVersionPrefix    = "CXXABI_"
	defaultFatbinSectionNm = ".nv_fatbin"
)

// ErrNote marks a malformed ELF note section.
var ErrNote = errors.New("malformed ELF note")

var versionTailRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9]+(\.[0-9]+)*$`) })

// ReadELF reads what one ELF member needs. It never panics: debug/elf is run
// under recover, and every error becomes a finding (malformed_elf or
// malformed_fatbin, severity risk) next to whatever could be read.
func ReadELF(name string, r io.ReaderAt, size int64) (e ELF, problems []Finding) {
	e.Path = name
	e.Optional = strings.Contains(name, hwcapsDirPrefix)
	bad := func(code, format string, args ...any) {
		problems = append(problems, Finding{Code: code, Severity: Risk, File: name,
			Message: fmt.Sprintf("%s: "+format, append([]any{name}, args...)...)})
	}
	defer func() {
		if v := recover(); v != nil {
			bad(CodeMalformedELF, "unreadable ELF (%v)", v)
		}
	}()
	f, err := elf.NewFile(io.NewSectionReader(r, 0, size))
	if err != nil {
		bad(CodeMalformedELF, "%v", err)
		return e, problems
	}
	e.Machine = machineName(f)
	switch f.Class {
	case elf.ELFCLASS32:
		e.Class = 32
	case elf.ELFCLASS64:
		e.Class = 64
	}
	readInterp(f, &e, bad)
	readDynamic(f, &e, bad)
	readVersionFloors(f, &e, bad)
	readCUDANeeds(&e)
	e.Libc = libcOf(e)
	readISALevel(f, &e, bad)
	e.GPUCode = readGPUCode(f, size, bad)
	return e, problems
}

// badFunc records a finding about the member being read.
type badFunc func(code, format string, args ...any)

// readInterp reads PT_INTERP.
func readInterp(f *elf.File, e *ELF, bad badFunc) {
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		if p.Filesz > 4096 {
			bad(CodeMalformedELF, "PT_INTERP of %d bytes", p.Filesz)
			continue
		}
		buf := make([]byte, p.Filesz)
		if _, err := p.ReadAt(buf, 0); err != nil {
			bad(CodeMalformedELF, "PT_INTERP: %v", err)
			continue
		}
		e.Interp = string(bytes.TrimRight(buf, "\x00"))
	}
}

// readDynamic reads DT_NEEDED, DT_SONAME, DT_RUNPATH and DT_RPATH.
func readDynamic(f *elf.File, e *ELF, bad badFunc) {
	if f.Section(".dynamic") == nil && !hasDynamicProg(f) {
		return
	}
	var errs []error
	dyn := func(tag elf.DynTag) []string {
		v, err := f.DynString(tag)
		if err != nil {
			errs = append(errs, err)
		}
		return v
	}
	e.Needed = dyn(elf.DT_NEEDED)
	if s := dyn(elf.DT_SONAME); len(s) > 0 {
		e.Soname = s[0]
	}
	e.Runpath = splitPaths(dyn(elf.DT_RUNPATH))
	e.Rpath = splitPaths(dyn(elf.DT_RPATH))
	if len(errs) > 0 {
		bad(CodeMalformedELF, "dynamic section: %v", errs[0])
	}
}

// readVersionFloors reads the highest GLIBC_, GLIBCXX_ and CXXABI_ versions
// the member's version needs name.
func readVersionFloors(f *elf.File, e *ELF, bad badFunc) {
	needs, err := f.DynamicVersionNeeds()
	// No dynamic symbols or no version table means "needs nothing"; only a
	// format error in the tables is a problem.
	var ferr *elf.FormatError
	if errors.As(err, &ferr) {
		bad(CodeMalformedELF, "version needs: %v", err)
	}
	floors := []struct {
		prefix string
		floor  *string
	}{{glibcVersionPrefix, &e.GlibcFloor}, {glibcxxVersionPrefix, &e.GlibcxxFloor}, {cxxabiVersionPrefix, &e.CxxabiFloor}}
	for _, n := range needs {
		for _, d := range n.Needs {
			for _, v := range floors {
				if tail, ok := strings.CutPrefix(d.Dep, v.prefix); ok && versionTailRe().MatchString(tail) {
					*v.floor = MaxVersion(*v.floor, tail)
				}
			}
		}
	}
}

// readCUDANeeds reads libcuda and the CUDA runtime's major version from
// DT_NEEDED.
func readCUDANeeds(e *ELF) {
	for _, n := range e.Needed {
		switch {
		case n == libcudaSoname:
			e.LinksLibcuda = true
		case strings.HasPrefix(n, cudartPrefix):
			if m, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(n, cudartPrefix), ".", 2)[0]); err == nil && m > e.CUDARuntimeMajor {
				e.CUDARuntimeMajor = m
			}
		}
	}
}

// readISALevel reads the x86-64 ISA level from .note.gnu.property.
func readISALevel(f *elf.File, e *ELF, bad badFunc) {
	s := f.Section(".note.gnu.property")
	if s == nil || s.Type == elf.SHT_NOBITS {
		return
	}
	if s.Size > maxNoteSection {
		bad(CodeMalformedELF, ".note.gnu.property of %d bytes", s.Size)
	} else if data, err := s.Data(); err != nil {
		bad(CodeMalformedELF, ".note.gnu.property: %v", err)
	} else if lvl, err := ParseGNUProperty(data, f.Class, f.ByteOrder); err != nil {
		bad(CodeMalformedELF, "%v", err)
	} else {
		e.ISALevel = lvl
	}
}

// readGPUCode reads the GPU code of .nv_fatbin and of the fatbin
// containers other allocated sections hold, deduplicated.
func readGPUCode(f *elf.File, size int64, bad badFunc) []FatbinEntry {
	var code []FatbinEntry
	if s := f.Section(defaultFatbinSectionNm); s != nil && s.Type != elf.SHT_NOBITS {
		if s.Size > maxFatbinSection || int64(s.Size) > size {
			bad(CodeMalformedFatbin, "%s of %d bytes in a %d-byte file", defaultFatbinSectionNm, s.Size, size)
		} else if s.Flags&elf.SHF_COMPRESSED != 0 {
			bad(CodeMalformedFatbin, "%s is an ELF-compressed section, which forge does not read", defaultFatbinSectionNm)
		} else {
			// Read through the section, not into memory: a fatbin can be
			// most of a gigabyte.
			c, err := ParseFatbinAt(s, int64(s.Size))
			code = c
			if err != nil {
				bad(CodeMalformedFatbin, "%v", err)
			}
		}
	}
	scan := fatbinScan{entries: len(code)}
	for _, s := range f.Sections {
		if !isScannedSection(s, size) {
			continue
		}
		if err := scan.scanSection(s, int64(s.Size)); err != nil {
			bad(CodeMalformedFatbin, "%s: %v", s.Name, err)
		}
	}
	if scan.bad != nil {
		bad(CodeMalformedFatbin, "%v", scan.bad)
	}
	return dedupeCode(append(code, scan.code...))
}

// isScannedSection reports whether s may hold fatbin containers that a GPU
// would run: allocated (the loader maps it), not code, stored in the file.
// .nv_fatbin has its own reader; __nv_relfatbin is input for the device
// linker, never loaded.
func isScannedSection(s *elf.Section, fileSize int64) bool {
	switch s.Name {
	case defaultFatbinSectionNm, "__nv_relfatbin":
		return false
	}
	return s.Type == elf.SHT_PROGBITS && s.Flags&elf.SHF_ALLOC != 0 && s.Flags&elf.SHF_EXECINSTR == 0 &&
		s.Flags&elf.SHF_COMPRESSED == 0 && s.Size >= fatbinContainerHdrSize+fatbinEntryMinHdrSize &&
		s.Offset <= uint64(fileSize) && s.Size <= uint64(fileSize)-s.Offset
}

func hasDynamicProg(f *elf.File) bool {
	for _, p := range f.Progs {
		if p.Type == elf.PT_DYNAMIC {
			return true
		}
	}
	return false
}

func splitPaths(v []string) []string {
	var out []string
	for _, s := range v {
		for _, p := range strings.Split(s, ":") {
			if p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// libcOf names the C library family an ELF file is built against.
func libcOf(e ELF) string {
	if strings.HasPrefix(path.Base(e.Interp), muslInterpPrefix) {
		return "musl"
	}
	for _, n := range e.Needed {
		if strings.HasPrefix(n, muslNeededPrefix) || strings.HasPrefix(n, muslInterpPrefix) {
			return "musl"
		}
	}
	if e.GlibcFloor != "" || strings.HasPrefix(path.Base(e.Interp), "ld-linux") {
		return "glibc"
	}
	for _, n := range e.Needed {
		if n == "libc.so.6" {
			return "glibc"
		}
	}
	return ""
}

// machineName maps e_machine to the platform tag's architecture spelling
// (the arches table), else to the machine's own name ("EM_MIPS": "mips").
func machineName(f *elf.File) string {
	if a := archOfELF(f.Machine, f.ByteOrder); a != "" {
		return a
	}
	return strings.ToLower(strings.TrimPrefix(f.Machine.String(), "EM_"))
}

// ParseGNUProperty reads a .note.gnu.property section and returns the x86-64
// ISA level its GNU_PROPERTY_X86_ISA_1_NEEDED property asks for: 0 when the
// property is absent, 1 for baseline, 2–4 for x86-64-v2..v4. Notes are aligned
// to 8 bytes in ELF64 and 4 in ELF32, as are the properties inside them.
// Truncated or inconsistent data is an error wrapping ErrNote.
func ParseGNUProperty(data []byte, class elf.Class, order binary.ByteOrder) (int, error) {
	align := uint64(4)
	if class == elf.ELFCLASS64 {
		align = 8
	}
	alignUp := func(v uint64) uint64 { return (v + align - 1) &^ (align - 1) }
	level := 0
	n := uint64(len(data))
	for off := uint64(0); off < n; {
		if n-off < 12 {
			return level, fmt.Errorf("%w: note at %#x: truncated header", ErrNote, off)
		}
		namesz := uint64(order.Uint32(data[off:]))
		descsz := uint64(order.Uint32(data[off+4:]))
		typ := order.Uint32(data[off+8:])
		p := off + 12
		if namesz > n-p {
			return level, fmt.Errorf("%w: note at %#x: name of %d bytes", ErrNote, off, namesz)
		}
		name := string(bytes.TrimRight(data[p:p+namesz], "\x00"))
		p = alignUp(p + namesz)
		if p > n || descsz > n-p {
			return level, fmt.Errorf("%w: note at %#x: descriptor of %d bytes", ErrNote, off, descsz)
		}
		desc := data[p : p+descsz]
		off = alignUp(p + descsz)
		if name != "GNU" || typ != ntGNUPropertyType0 {
			continue
		}
		for q := uint64(0); q < descsz; {
			if descsz-q < 8 {
				return level, fmt.Errorf("%w: property at %#x: truncated", ErrNote, q)
			}
			pt := order.Uint32(desc[q:])
			pdsz := uint64(order.Uint32(desc[q+4:]))
			q += 8
			if pdsz > descsz-q {
				return level, fmt.Errorf("%w: property %#x: %d bytes of data", ErrNote, pt, pdsz)
			}
			if pt == gnuPropertyX86ISANeed {
				if pdsz < 4 {
					return level, fmt.Errorf("%w: ISA_1_NEEDED of %d bytes", ErrNote, pdsz)
				}
				bits := order.Uint32(desc[q:])
				for lvl := 4; lvl >= 1; lvl-- {
					if bits&(1<<(lvl-1)) != 0 {
						level = max(level, lvl)
						break
					}
				}
			}
			q = alignUp(q + pdsz)
		}
	}
	return level, nil
}

var (
	nvidiaCUDARe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^nvidia-[a-z0-9-]+-cu([0-9]+)$`) })
	cuFlavourRe  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^cu([0-9]+)([0-9])$`) })
)

// NvidiaCUDAMajor returns N for a requirement name "nvidia-*-cuN", else 0.
func NvidiaCUDAMajor(name string) int {
	m := nvidiaCUDARe().FindStringSubmatch(wheel.NormalizeName(name))
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func nvidiaRequires(metadata []byte) []string {
	md, _ := wheel.ParseHeaders(metadata)
	seen := map[string]bool{}
	var out []string
	for _, req := range md["requires-dist"] {
		name := requirementName(req)
		if NvidiaCUDAMajor(name) > 0 && !seen[wheel.NormalizeName(name)] {
			seen[wheel.NormalizeName(name)] = true
			out = append(out, wheel.NormalizeName(name))
		}
	}
	sort.Strings(out)
	return out
}

// requirementName is the project name at the start of a PEP 508 requirement.
func requirementName(req string) string {
	req = strings.TrimSpace(req)
	i := strings.IndexFunc(req, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	})
	if i < 0 {
		return req
	}
	return req[:i]
}

// ParseFlavour reads the CUDA flavour from a version's local part:
// "2.4.0+cu121" → "12.1", "+cu118" → "11.8", "+cpu" → "cpu", else "".
func ParseFlavour(version string) string {
	_, local, ok := strings.Cut(version, "+")
	if !ok {
		return ""
	}
	for _, part := range strings.FieldsFunc(strings.ToLower(local), func(r rune) bool { return r == '.' || r == '-' || r == '_' }) {
		if part == "cpu" {
			return "cpu"
		}
		if m := cuFlavourRe().FindStringSubmatch(part); m != nil {
			major, _ := strconv.Atoi(m[1])
			return fmt.Sprintf("%d.%s", major, m[2])
		}
	}
	return ""
}

// FlavourTag is the --gpu spelling of a flavour: "12.1" → "cu121", "cpu" → "cpu".
func FlavourTag(flavour string) string {
	if flavour == "" || flavour == "cpu" {
		return flavour
	}
	return "cu" + strings.ReplaceAll(flavour, ".", "")
}

// summarize computes a fingerprint's summary fields from its ELFs.
func summarize(fp *Fingerprint) {
	sort.SliceStable(fp.ELFs, func(i, j int) bool { return fp.ELFs[i].Path < fp.ELFs[j].Path })
	fp.GlibcFloor, fp.GlibcxxFloor, fp.CxxabiFloor, fp.LibcFamily = "", "", "", ""
	fp.ISALevel, fp.CUDARuntimeMajor, fp.LinksLibcuda = 0, 0, false
	fp.Machines, fp.Needed, fp.GPUCode = nil, nil, nil
	fp.CUDAFlavour = ParseFlavour(fp.Version)
	shipped := map[string]bool{}
	machines := map[string]bool{}
	for _, e := range fp.ELFs {
		shipped[path.Base(e.Path)] = true
		if e.Soname != "" {
			shipped[e.Soname] = true
		}
	}
	needed := map[string]bool{}
	code := map[FatbinEntry]bool{}
	for _, e := range fp.ELFs {
		fp.GlibcFloor = MaxVersion(fp.GlibcFloor, e.GlibcFloor)
		fp.GlibcxxFloor = MaxVersion(fp.GlibcxxFloor, e.GlibcxxFloor)
		fp.CxxabiFloor = MaxVersion(fp.CxxabiFloor, e.CxxabiFloor)
		if e.Libc == "musl" || fp.LibcFamily == "" {
			if e.Libc != "" {
				fp.LibcFamily = e.Libc
			}
		}
		if e.Machine != "" {
			machines[e.Machine] = true
		}
		if !e.Optional {
			fp.ISALevel = max(fp.ISALevel, e.ISALevel)
		}
		fp.CUDARuntimeMajor = max(fp.CUDARuntimeMajor, e.CUDARuntimeMajor)
		fp.LinksLibcuda = fp.LinksLibcuda || e.LinksLibcuda
		for _, n := range e.Needed {
			if !shipped[n] {
				needed[n] = true
			}
		}
		for _, c := range e.GPUCode {
			c.Compressed = false // the same code, whichever way it was stored
			code[c] = true
		}
	}
	fp.Machines = slices.Sorted(maps.Keys(machines))
	fp.Needed = slices.Sorted(maps.Keys(needed))
	for c := range code {
		fp.GPUCode = append(fp.GPUCode, c)
	}
	sortCode(fp.GPUCode)
}
