package abi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"strconv"
)

// Fatbin layout (little-endian), as read here. The container header and the
// entry fields at +0..+12, +28 and +40 are PRODUCT.md's; the rest was checked
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
// The arch-specific 'a' suffix (sm_90a) has no known bit in the fatbin entry
// header. It is read from the payload when that is not compressed: a cubin's
// CUDA ELF e_flags carry EF_CUDA_ACCELERATORS (0x800 for ELF ABI version < 8,
// 0x8 from ABI version 8), a PTX text says ".target sm_90a". For a compressed
// payload ArchSpecific stays false.
const (
	FatbinMagic            = 0xBA55ED50
	fatbinContainerHdrSize = 16
	fatbinEntryMinHdrSize  = 48

	FatbinKindPTX   = 1
	FatbinKindCubin = 2

	FatbinFlagCompressed     = 0x2000
	FatbinFlagCompressedZstd = 0x8000
)

// Kinds of GPU code.
const (
	KindCubin = "cubin"
	KindPTX   = "ptx"
)

// FatbinEntry is one piece of GPU code in a fatbin.
type FatbinEntry struct {
	Kind         string `json:"kind"` // "cubin" or "ptx"
	SM           int    `json:"sm"`   // 80 for sm_80 / compute_80
	ArchSpecific bool   `json:"arch_specific,omitempty"`
	// PTXVersion is the PTX ISA version of a PTX entry ("8.4"), "" for cubins.
	PTXVersion string `json:"ptx_version,omitempty"`
	Compressed bool   `json:"compressed,omitempty"`
}

// String is the nvcc name of the code: "sm_80", "sm_90a", "compute_80".
func (e FatbinEntry) String() string {
	p := "sm_"
	if e.Kind == KindPTX {
		p = "compute_"
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
	ptxTargetRe  = regexp.MustCompile(`\.target\s+sm_([0-9]+)([a-z]?)`)
	ptxVersionRe = regexp.MustCompile(`\.version\s+([0-9]+)\.([0-9]+)`)
)

// ParseFatbin reads every entry of every container in data (an .nv_fatbin
// section). Unknown entry kinds are skipped. Truncated or inconsistent data
// is an error wrapping ErrFatbin; it never panics.
func ParseFatbin(data []byte) ([]FatbinEntry, error) {
	var out []FatbinEntry
	le := binary.LittleEndian
	off := uint64(0)
	n := uint64(len(data))
	for off < n {
		// Containers are 8-aligned; skip the zero padding between them.
		if data[off] == 0 {
			off++
			continue
		}
		if n-off < fatbinContainerHdrSize {
			return out, fmt.Errorf("%w: container at %#x: truncated header", ErrFatbin, off)
		}
		if m := le.Uint32(data[off:]); m != FatbinMagic {
			return out, fmt.Errorf("%w: container at %#x: magic %#x, want %#x", ErrFatbin, off, m, FatbinMagic)
		}
		hs := uint64(le.Uint16(data[off+6:]))
		size := le.Uint64(data[off+8:])
		if hs < fatbinContainerHdrSize || hs > n-off {
			return out, fmt.Errorf("%w: container at %#x: header size %d", ErrFatbin, off, hs)
		}
		start := off + hs
		if size > n-start {
			return out, fmt.Errorf("%w: container at %#x: size %d runs past the end (%d bytes left)", ErrFatbin, off, size, n-start)
		}
		end := start + size
		for e := start; e < end; {
			if end-e < fatbinEntryMinHdrSize {
				return out, fmt.Errorf("%w: entry at %#x: truncated header", ErrFatbin, e)
			}
			kind := le.Uint16(data[e:])
			ehs := uint64(le.Uint32(data[e+4:]))
			padded := le.Uint64(data[e+8:])
			if ehs < fatbinEntryMinHdrSize || ehs > end-e {
				return out, fmt.Errorf("%w: entry at %#x: header size %d", ErrFatbin, e, ehs)
			}
			if padded > end-e-ehs {
				return out, fmt.Errorf("%w: entry at %#x: payload size %d runs past the container", ErrFatbin, e, padded)
			}
			payload := data[e+ehs : e+ehs+padded]
			compSize := uint64(le.Uint32(data[e+16:]))
			minor, major := le.Uint16(data[e+24:]), le.Uint16(data[e+26:])
			sm := le.Uint32(data[e+28:])
			flags := le.Uint64(data[e+40:])
			at := e
			e += ehs + padded
			var fe FatbinEntry
			switch kind {
			case FatbinKindPTX:
				fe.Kind = KindPTX
			case FatbinKindCubin, 0x10:
				fe.Kind = KindCubin
			default:
				continue
			}
			if sm > 10000 {
				return out, fmt.Errorf("%w: entry at %#x: SM arch %d", ErrFatbin, at, sm)
			}
			fe.SM = int(sm)
			fe.Compressed = flags&(FatbinFlagCompressed|FatbinFlagCompressedZstd) != 0
			if fe.Compressed && compSize > 0 && compSize <= uint64(len(payload)) {
				payload = payload[:compSize]
			}
			if fe.Kind == KindPTX {
				if major > 0 {
					fe.PTXVersion = fmt.Sprintf("%d.%d", major, minor)
				}
				if !fe.Compressed {
					readPTXText(payload, &fe)
				}
			} else if !fe.Compressed {
				fe.ArchSpecific = cubinArchSpecific(payload)
			}
			out = append(out, fe)
		}
		off = end
	}
	return out, nil
}

// readPTXText fills the arch-specific flag (".target sm_90a") and, when the
// header had none, the PTX version (".version 8.4") from PTX source text.
func readPTXText(p []byte, fe *FatbinEntry) {
	if len(p) > 4096 {
		p = p[:4096] // the directives come first
	}
	if m := ptxTargetRe.FindSubmatch(p); m != nil && string(m[2]) == "a" {
		fe.ArchSpecific = true
	}
	if fe.PTXVersion == "" {
		if m := ptxVersionRe.FindSubmatch(p); m != nil {
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
