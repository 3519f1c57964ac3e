package abi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"sync"
)

// Fatbin layout (little-endian), as read here. The container header and the
// entry fields at +0..+12, +28 and +40 are the documented ones; the rest was checked
// against a real nvcc-generated .nv_fatbin dump and the open-source readers
// of the format (jiegec/fatbinary, n-eiling/cuda-fatbin-decompression,
// nvopen-tools' FORMAT_SPECIFICATION):
//
//	container: +0 u32 magic 0xBA55ED50, +4 u16 version (1), +6 u16 header size (16),
//	           +8 u64 size of the entries that follow; containers may repeat,
//	           separated by zero padding.
//	entry:     +0  u16 kind (1 PTX, 2 cubin; 0x10 is an alternative cubin kind)
//	           +2  u16 (0x0101)
//	           +4  u32 entry header size (64; more for PTX / sm_100+)
//	           +8  u64 padded payload size
//	           +16 u32 compressed payload size
//	           +20 u32 options offset
//	           +24 u16 minor, +26 u16 major: the PTX ISA version of a PTX entry
//	               (8.4), the cubin ABI version of a cubin entry ([1,7])
//	           +28 u32 SM arch (80, 90, 120)
//	           +32 u32 object name offset, +36 u32 object name length
//	           +40 u64 flags (0x1 64-bit, 0x10 Linux host, 0x2000 / 0x8000 compressed)
//	           +48 u64 (0), +56 u64 uncompressed payload size
//	           next entry = entry + header size + padded payload size.
//
// The arch-specific 'a' suffix (sm_90a) is bit 0x100000 of the entry flags:
// NVIDIA's real fatbins set it on every sm_XYa entry (sm_90a: flags 0x102011,
// plain sm_90: 0x2011), compressed or not, and cuobjdump names those entries
// sm_XYa. It is also read from an uncompressed payload, for fatbins that do
// not set the bit: a cubin's CUDA ELF e_flags carry EF_CUDA_ACCELERATORS
// (0x800 for ELF ABI version < 8, 0x8 from ABI version 8), a PTX text says
// ".target sm_90a".
//
// Entries of other kinds exist: cuFFT carries thousands of kind-8 entries
// (flags 0x12011) that cuobjdump cannot read either ("can't deobfuscate").
// They are kept as KindUnknown, so coverage that depends on them is
// reported as unknown, never guessed.
const (
	FatbinMagic            = 0xBA55ED50
	fatbinContainerHdrSize = 16
	fatbinEntryMinHdrSize  = 48

	FatbinKindPTX   = 1
	FatbinKindCubin = 2

	FatbinFlagCompressed     = 0x2000
	FatbinFlagCompressedZstd = 0x8000
	FatbinFlagArchSpecific   = 0x100000

	// maxFatbinEntries bounds the entries read from one ELF file: a lying
	// or hostile file cannot make forge allocate without limit. NVIDIA's
	// largest (cuFFT) has about 27,000.
	maxFatbinEntries = 1 << 20
)

// Kinds of GPU code.
const (
	KindCubin = "cubin"
	KindPTX   = "ptx"
	// KindUnknown is an entry of a kind forge cannot read: it may hold
	// code for its SM, or not.
	KindUnknown = "unknown"
)

// FatbinEntry is one piece of GPU code in a fatbin.
type FatbinEntry struct {
	Kind string `json:"kind"` // "cubin", "ptx" or "unknown"
	SM   int    `json:"sm"`   // 80 for sm_80 / compute_80
	// RawKind is the entry header's kind of an unknown entry (8 in cuFFT).
	RawKind      int  `json:"raw_kind,omitempty"`
	ArchSpecific bool `json:"arch_specific,omitempty"`
	// PTXVersion is the PTX ISA version of a PTX entry ("8.4"), "" for cubins.
	PTXVersion string `json:"ptx_version,omitempty"`
	Compressed bool   `json:"compressed,omitempty"`
}

// String is the nvcc name of the code: "sm_80", "sm_90a", "compute_80".
func (e FatbinEntry) String() string {
	p := "sm_"
	switch e.Kind {
	case KindPTX:
		p = "compute_"
	case KindUnknown:
		p = "kind" + strconv.Itoa(e.RawKind) + ":sm_"
	}
	s := p + strconv.Itoa(e.SM)
	if e.ArchSpecific {
		s += "a"
	}
	return s
}

// ErrFatbin marks malformed fatbin data.
var ErrFatbin = errors.New("malformed fatbin")

var (
	ptxTargetRe  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\.target\s+sm_([0-9]+)([a-z]?)`) })
	ptxVersionRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\.version\s+([0-9]+)\.([0-9]+)`) })
)

// ParseFatbin reads every entry of every container in data (an .nv_fatbin
// section). Unknown entry kinds are skipped. Truncated or inconsistent data
// is an error wrapping ErrFatbin; it never panics.
func ParseFatbin(data []byte) ([]FatbinEntry, error) {
	return ParseFatbinAt(bytes.NewReader(data), int64(len(data)))
}

// fatbinPeek is how much of a payload is read: a cubin's ELF header, or the
// directives at the start of PTX text.
const fatbinPeek = 4096

// ParseFatbinAt is ParseFatbin over a section of n bytes read through r: it
// reads the container and entry headers and the first bytes of each payload,
// never the payloads themselves, so a gigabyte of GPU code costs a few
// kilobytes of reads and no allocation of its size.
func ParseFatbinAt(r io.ReaderAt, n64 int64) ([]FatbinEntry, error) {
	return parseFatbinAt(r, n64, nil)
}

// parseFatbinAt is ParseFatbinAt counting the entries it reads in *count
// (when not nil) and stopping with an error past maxFatbinEntries.
func parseFatbinAt(r io.ReaderAt, n64 int64, count *int) ([]FatbinEntry, error) {
	var local int
	if count == nil {
		count = &local
	}
	if n64 < 0 {
		return nil, fmt.Errorf("%w: negative size", ErrFatbin)
	}
	p := &fatbinParser{r: r, n: uint64(n64), count: count, dedupeAt: 8192}
	off := uint64(0)
	var block []byte
	var blockAt uint64
	for off < p.n {
		// Containers are 8-aligned; skip the zero padding between them,
		// reading it a block at a time.
		if block == nil || off < blockAt || off >= blockAt+uint64(len(block)) {
			b, err := p.read(off, min(uint64(fatbinPeek), p.n-off))
			if err != nil {
				return p.out, err
			}
			block, blockAt = b, off
		}
		if block[off-blockAt] == 0 {
			off++
			continue
		}
		end, err := p.container(off)
		if err != nil {
			return p.out, err
		}
		off = end
	}
	return p.out, nil
}

// fatbinParser is the state of one parseFatbinAt.
type fatbinParser struct {
	r        io.ReaderAt
	n        uint64 // section size
	count    *int   // entries read, across sections
	out      []FatbinEntry
	dedupeAt int // len(out) at which out is deduplicated next
}

// read reads size bytes at off; EOF inside the section is no error.
func (p *fatbinParser) read(off, size uint64) ([]byte, error) {
	buf := make([]byte, size)
	if _, err := p.r.ReadAt(buf, int64(off)); err != nil && !(errors.Is(err, io.EOF) && off+size <= p.n) {
		return nil, fmt.Errorf("%w: reading %d bytes at %#x: %v", ErrFatbin, size, off, err)
	}
	return buf, nil
}

// container reads the container whose header is at off and every entry in
// it; it returns the offset after it.
func (p *fatbinParser) container(off uint64) (uint64, error) {
	le := binary.LittleEndian
	n := p.n
	if n-off < fatbinContainerHdrSize {
		return 0, fmt.Errorf("%w: container at %#x: truncated header", ErrFatbin, off)
	}
	hdr, err := p.read(off, fatbinContainerHdrSize)
	if err != nil {
		return 0, err
	}
	if m := le.Uint32(hdr); m != FatbinMagic {
		return 0, fmt.Errorf("%w: container at %#x: magic %#x, want %#x", ErrFatbin, off, m, FatbinMagic)
	}
	hs := uint64(le.Uint16(hdr[6:]))
	size := le.Uint64(hdr[8:])
	if hs < fatbinContainerHdrSize || hs > n-off {
		return 0, fmt.Errorf("%w: container at %#x: header size %d", ErrFatbin, off, hs)
	}
	start := off + hs
	if size > n-start {
		return 0, fmt.Errorf("%w: container at %#x: size %d runs past the end (%d bytes left)", ErrFatbin, off, size, n-start)
	}
	end := start + size
	for e := start; e < end; {
		if e, err = p.entry(e, end); err != nil {
			return 0, err
		}
	}
	return end, nil
}

// entry reads the entry whose header is at e, in a container ending at end,
// into p.out; it returns the offset after the entry.
func (p *fatbinParser) entry(e, end uint64) (uint64, error) {
	le := binary.LittleEndian
	if end-e < fatbinEntryMinHdrSize {
		return 0, fmt.Errorf("%w: entry at %#x: truncated header", ErrFatbin, e)
	}
	eh, err := p.read(e, fatbinEntryMinHdrSize)
	if err != nil {
		return 0, err
	}
	kind := le.Uint16(eh)
	ehs := uint64(le.Uint32(eh[4:]))
	padded := le.Uint64(eh[8:])
	if ehs < fatbinEntryMinHdrSize || ehs > end-e {
		return 0, fmt.Errorf("%w: entry at %#x: header size %d", ErrFatbin, e, ehs)
	}
	if padded > end-e-ehs {
		return 0, fmt.Errorf("%w: entry at %#x: payload size %d runs past the container", ErrFatbin, e, padded)
	}
	payloadAt, payloadLen := e+ehs, padded
	compSize := uint64(le.Uint32(eh[16:]))
	minor, major := le.Uint16(eh[24:]), le.Uint16(eh[26:])
	sm := le.Uint32(eh[28:])
	flags := le.Uint64(eh[40:])
	if *p.count++; *p.count > maxFatbinEntries {
		return 0, fmt.Errorf("%w: more than %d entries", ErrFatbin, maxFatbinEntries)
	}
	fe := FatbinEntry{Kind: fatbinKind(kind)}
	if fe.Kind == KindUnknown {
		fe.RawKind = int(kind)
	}
	if sm > 10000 {
		return 0, fmt.Errorf("%w: entry at %#x: SM arch %d", ErrFatbin, e, sm)
	}
	fe.SM = int(sm)
	fe.ArchSpecific = flags&FatbinFlagArchSpecific != 0
	fe.Compressed = flags&(FatbinFlagCompressed|FatbinFlagCompressedZstd) != 0
	if fe.Compressed && compSize > 0 && compSize <= payloadLen {
		payloadLen = compSize
	}
	if fe.Kind == KindPTX && major > 0 {
		fe.PTXVersion = fmt.Sprintf("%d.%d", major, minor)
	}
	if !fe.Compressed && fe.Kind != KindUnknown {
		if err := p.peekPayload(&fe, payloadAt, payloadLen); err != nil {
			return 0, err
		}
	}
	p.add(fe)
	return e + ehs + padded, nil
}

// fatbinKind is the kind of an entry header's kind field.
func fatbinKind(kind uint16) string {
	switch kind {
	case FatbinKindPTX:
		return KindPTX
	case FatbinKindCubin, 0x10:
		return KindCubin
	}
	return KindUnknown
}

// peekPayload reads what the start of an uncompressed payload says: the
// PTX directives, or a cubin's ELF header flags.
func (p *fatbinParser) peekPayload(fe *FatbinEntry, at, size uint64) error {
	payload, err := p.read(at, min(size, fatbinPeek))
	if err != nil {
		return err
	}
	if fe.Kind == KindPTX {
		readPTXText(payload, fe)
	} else if cubinArchSpecific(payload) {
		fe.ArchSpecific = true
	}
	return nil
}

// add appends fe to p.out.
func (p *fatbinParser) add(fe FatbinEntry) {
	p.out = append(p.out, fe)
	if len(p.out) >= p.dedupeAt {
		// libtorch_cuda repeats a dozen archs in thousands of
		// entries: keep the distinct ones, bounded memory. The
		// threshold doubles so that many distinct entries cost
		// amortised linear time, not quadratic.
		p.out = dedupeCode(p.out)
		p.dedupeAt = max(p.dedupeAt, 2*len(p.out))
	}
}

// readPTXText fills the arch-specific flag (".target sm_90a") and, when the
// header had none, the PTX version (".version 8.4") from PTX source text.
func readPTXText(p []byte, fe *FatbinEntry) {
	if len(p) > 4096 {
		p = p[:4096] // the directives come first
	}
	if m := ptxTargetRe().FindSubmatch(p); m != nil && string(m[2]) == "a" {
		fe.ArchSpecific = true
	}
	if fe.PTXVersion == "" {
		if m := ptxVersionRe().FindSubmatch(p); m != nil {
			fe.PTXVersion = string(m[1]) + "." + string(m[2])
		}
	}
}

// cubinArchSpecific reads EF_CUDA_ACCELERATORS from a CUDA ELF header.
func cubinArchSpecific(p []byte) bool {
	if !IsELF(p) || len(p) < 52 {
		return false
	}
	var flags uint32
	switch p[4] { // EI_CLASS
	case 1:
		flags = binary.LittleEndian.Uint32(p[36:])
	case 2:
		if len(p) < 64 {
			return false
		}
		flags = binary.LittleEndian.Uint32(p[48:])
	default:
		return false
	}
	if p[8] >= 8 { // EI_ABIVERSION 8: SM in bits 8..15, 'a' at bit 3
		return flags&0x8 != 0
	}
	return flags&0x800 != 0
}
