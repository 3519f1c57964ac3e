package abi

import (
	"io"
	"sync"

	"github.com/forge-ml/forge/wheel"
)

// Fingerprint is what a wheel needs from a host, as data. It is computed once,
// at ingest, and stored with the store entry as JSON.
//
// CONTRACT (shared with store/ and resolver/): fields may be added; existing
// JSON names must not change.
type Fingerprint struct {
	// Schema is the FingerprintSchema of the forge that computed it; an
	// older one lacks what newer readers find (store.Refingerprint).
	Schema  int    `json:"schema,omitempty"`
	Name    string `json:"name"`
	Version string `json:"version"`
	Build   string `json:"build,omitempty"`
	// Tags are the expanded tags of the file name; WheelTags those of the WHEEL file.
	Tags      []string `json:"tags"`
	WheelTags []string `json:"wheel_tags,omitempty"`
	Files     int      `json:"files"`
	ELFs      []ELF    `json:"elfs,omitempty"`
	// Problems are findings about malformed content found while reading (never a panic).
	Problems []Finding `json:"problems,omitempty"`

	// Summary over ELFs, computed by Finish.

	// GlibcFloor, GlibcxxFloor, CxxabiFloor: highest GLIBC_, GLIBCXX_, CXXABI_
	// version needed by any ELF member ("2.34", "3.4.29", "1.3.13").
	GlibcFloor   string `json:"glibc_floor,omitempty"`
	GlibcxxFloor string `json:"glibcxx_floor,omitempty"`
	CxxabiFloor  string `json:"cxxabi_floor,omitempty"`
	// LibcFamily is "glibc", "musl", or "" when no member names a libc.
	LibcFamily string `json:"libc_family,omitempty"`
	// Machines are the distinct ELF machines ("x86_64", "aarch64"), sorted.
	Machines []string `json:"machines,omitempty"`
	// ISALevel is the highest x86-64 level needed by a non-optional member.
	ISALevel int `json:"isa_level,omitempty"`
	// CUDARuntimeMajor is the highest N of a DT_NEEDED libcudart.so.N.
	CUDARuntimeMajor int `json:"cuda_runtime_major,omitempty"`
	// CUDAFlavour is from the local version: "+cu121" → "12.1", "+cpu" → "cpu".
	CUDAFlavour string `json:"cuda_flavour,omitempty"`
	// NvidiaRequires are Requires-Dist names of the form nvidia-*-cuNN, sorted.
	NvidiaRequires []string `json:"nvidia_requires,omitempty"`
	// LinksLibcuda: some member has DT_NEEDED libcuda.so.1 (needs a driver).
	LinksLibcuda bool `json:"links_libcuda,omitempty"`
	// Needed are DT_NEEDED sonames no member of the wheel provides, sorted.
	Needed []string `json:"needed,omitempty"`
	// GPUCode is the GPU code of all members, deduplicated and sorted.
	GPUCode []FatbinEntry `json:"gpu_code,omitempty"`
	// Variant is the PEP 825 variant label of the file name; VariantClaims
	// its properties from .dist-info/variant.json (namespace → feature →
	// values), which Check holds against what the files carry.
	Variant       string                         `json:"variant,omitempty"`
	VariantClaims map[string]map[string][]string `json:"variant_claims,omitempty"`
}

// ELF is what one ELF member of a wheel needs. See elf.go for how it is read.
type ELF struct {
	Path    string `json:"path"`
	Machine string `json:"machine,omitempty"` // "x86_64", "aarch64", ...
	Class   int    `json:"class,omitempty"`   // 32 or 64
	Soname  string `json:"soname,omitempty"`
	Interp  string `json:"interp,omitempty"` // PT_INTERP
	Libc    string `json:"libc,omitempty"`   // "glibc", "musl", "" when none named
	// Highest GLIBC_x.y, GLIBCXX_x.y.z and CXXABI_x.y.z in the version needs.
	GlibcFloor   string   `json:"glibc_floor,omitempty"`
	GlibcxxFloor string   `json:"glibcxx_floor,omitempty"`
	CxxabiFloor  string   `json:"cxxabi_floor,omitempty"`
	Needed       []string `json:"needed,omitempty"`
	Runpath      []string `json:"runpath,omitempty"`
	Rpath        []string `json:"rpath,omitempty"`
	// ISALevel is the x86-64 level from GNU_PROPERTY_X86_ISA_1_NEEDED (0: no note).
	ISALevel int `json:"isa_level,omitempty"`
	// Optional: the member lies under glibc-hwcaps/x86-64-vN/ and is only
	// loaded on CPUs of that level.
	Optional         bool          `json:"optional,omitempty"`
	CUDARuntimeMajor int           `json:"cuda_runtime_major,omitempty"`
	LinksLibcuda     bool          `json:"links_libcuda,omitempty"`
	GPUCode          []FatbinEntry `json:"gpu_code,omitempty"`
}

// Severity of a finding.
type Severity string

const (
	Incompatible Severity = "incompatible"
	Risk         Severity = "risk"
	Info         Severity = "info"
)

// Finding is one result of an ABI check: a stable Code, a Severity and a
// message naming what is required and what the host has.
type Finding struct {
	Code     string   `json:"code"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	File     string   `json:"file,omitempty"`
	// Libraries are the sonames a missing_library finding is about.
	Libraries []string `json:"libraries,omitempty"`
}

// FingerprintSchema numbers what a fingerprint holds. 2: device code
// outside .nv_fatbin, the sm_XYa entry flag, unknown fatbin kinds, PEP 825
// variant claims. Fingerprints of a lower schema (0: before numbering) are
// computed again from the store entry's files by forge doctor --fix.
const FingerprintSchema = 2

// FingerprintBuilder accumulates a fingerprint while ingest reads a wheel.
// AddELF may be called concurrently from several goroutines.
type FingerprintBuilder struct {
	mu sync.Mutex
	fp Fingerprint
}

// NewFingerprintBuilder starts a fingerprint for the wheel whose file name is given.
func NewFingerprintBuilder(w wheel.Filename) *FingerprintBuilder {
	b := &FingerprintBuilder{}
	b.fp.Name, b.fp.Version, b.fp.Build, b.fp.Variant = w.Name, w.Version, w.Build, w.Variant
	for _, t := range w.Tags {
		b.fp.Tags = append(b.fp.Tags, t.String())
	}
	return b
}

// IsELF reports whether the first bytes of a member are an ELF header.
func IsELF(head []byte) bool {
	return len(head) >= 4 && head[0] == 0x7f && head[1] == 'E' && head[2] == 'L' && head[3] == 'F'
}

// AddELF reads one ELF member (path inside the wheel) from r. Malformed data
// becomes a Problem finding, never a panic or an error. Safe for concurrent use;
// the reading itself happens outside the builder's lock.
func (b *FingerprintBuilder) AddELF(path string, r io.ReaderAt, size int64) {
	e, problems := ReadELF(path, r, size)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fp.ELFs = append(b.fp.ELFs, e)
	b.fp.Problems = append(b.fp.Problems, problems...)
}

// AddParsedELF adds an ELF member that was read elsewhere (a stored
// fingerprint being re-summarised, or a test's hand-made member).
func (b *FingerprintBuilder) AddParsedELF(e ELF) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fp.ELFs = append(b.fp.ELFs, e)
}

// SetWheelFile records the parsed WHEEL file's Tag lines.
func (b *FingerprintBuilder) SetWheelFile(tags []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fp.WheelTags = append([]string(nil), tags...)
}

// SetMetadata records the METADATA file's content: Requires-Dist names of the
// form nvidia-*-cuNN (a CUDA N dependency). Unreadable metadata records nothing;
// validating it is ParseMetadata's job.
func (b *FingerprintBuilder) SetMetadata(metadata []byte) {
	reqs := nvidiaRequires(metadata)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fp.NvidiaRequires = reqs
}

// Finish returns the fingerprint; files is the number of members. It computes
// the summary fields from the per-file detail; ELFs are sorted by path so the
// result does not depend on the order AddELF was called in.
func (b *FingerprintBuilder) Finish(files int) Fingerprint {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fp.Files = files
	b.fp.Schema = FingerprintSchema
	summarize(&b.fp)
	fp := b.fp
	fp.ELFs = append([]ELF(nil), b.fp.ELFs...)
	fp.Problems = append([]Finding(nil), b.fp.Problems...)
	return fp
}
