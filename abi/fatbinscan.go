package abi

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"sync"
)

// Device code is not only in .nv_fatbin. NVIDIA's cuFFT keeps one sm_52
// cubin there and its real kernels — 17,607 containers, cubins sm_50…sm_90,
// PTX and entries of a kind nobody documents — in .data, where the CUDA
// runtime registers them from. The loader maps every allocated section, so
// a GPU can run code from any of them: scanFatbins looks for containers in
// each allocated, non-executable data section and reads the ones whose
// header holds together.

// scanWindow is how much of a section is searched at once: the scan holds
// one window, never the section (cuFFT's .data is 282 MB). Ingest reads
// many ELF members at once, so windows come from a pool and stay small:
// with 4 MiB windows a cold install of torch peaked at 114 MB RSS, not 68.
const scanWindow = 256 << 10

var scanWindows = sync.Pool{New: func() any { b := make([]byte, scanWindow); return &b }}

// fatbinScan is what scanning one ELF file's data sections found.
type fatbinScan struct {
	code       []FatbinEntry
	containers int
	entries    int // counted against maxFatbinEntries
	dedupeAt   int // len(code) at which it is next deduplicated
	// bad is the first container whose header claimed a fatbin but whose
	// content did not hold together.
	bad error
}

// scanSection searches n bytes read through r (one section) for fatbin
// containers. A container is believed when its magic is followed by version
// 1, a 16-byte header and a size inside the section; anything else with the
// magic bytes is data that happens to contain them and is skipped. A
// believed container whose entries do not parse is recorded in s.bad.
func (s *fatbinScan) scanSection(r io.ReaderAt, n int64) error {
	var magic [4]byte
	binary.LittleEndian.PutUint32(magic[:], FatbinMagic)
	bufp := scanWindows.Get().(*[]byte)
	defer scanWindows.Put(bufp)
	buf := (*bufp)[:min(int64(scanWindow), n)]
	for base := int64(0); base < n; {
		w := buf[:min(int64(len(buf)), n-base)]
		if _, err := r.ReadAt(w, base); err != nil && err != io.EOF {
			return fmt.Errorf("reading at %#x: %w", base, err)
		}
		next := base + int64(len(w))
		if next < n {
			next -= int64(len(magic) - 1) // a magic split across windows
		}
		done := base // where the last container read ended
		for i := 0; ; {
			j := bytes.Index(w[i:], magic[:])
			if j < 0 {
				break
			}
			at := base + int64(i+j)
			end, ok := s.container(r, at, n)
			if !ok {
				i += j + 1
				continue
			}
			if end > base+int64(len(w)) {
				next = end // the container runs past this window
				break
			}
			i, done = int(end-base), end
		}
		next = max(next, done)
		if next <= base {
			next = base + 1
		}
		base = next
		if s.entries > maxFatbinEntries {
			return nil
		}
	}
	return nil
}

// container reads the container whose magic is at off, if its header holds
// together, and returns where it ends.
func (s *fatbinScan) container(r io.ReaderAt, off, n int64) (int64, bool) {
	if n-off < fatbinContainerHdrSize {
		return 0, false
	}
	var hdr [fatbinContainerHdrSize]byte
	if _, err := r.ReadAt(hdr[:], off); err != nil {
		return 0, false
	}
	le := binary.LittleEndian
	version, hs, size := le.Uint16(hdr[4:]), le.Uint16(hdr[6:]), le.Uint64(hdr[8:])
	if version != 1 || hs != fatbinContainerHdrSize || size < fatbinEntryMinHdrSize {
		return 0, false
	}
	if size > uint64(n-off-fatbinContainerHdrSize) {
		if s.bad == nil {
			s.bad = fmt.Errorf("%w: container at %#x: size %d runs past the section (%d bytes left)", ErrFatbin, off, size, n-off-fatbinContainerHdrSize)
		}
		return 0, false
	}
	end := off + fatbinContainerHdrSize + int64(size)
	code, err := parseFatbinAt(io.NewSectionReader(r, off, end-off), end-off, &s.entries)
	if err != nil {
		if s.bad == nil {
			s.bad = fmt.Errorf("container at %#x: %w", off, err)
		}
		return 0, false
	}
	s.containers++
	s.code = append(s.code, code...)
	if len(s.code) >= max(s.dedupeAt, 4096) {
		// Thousands of containers repeat a few archs; the threshold doubles
		// so that many distinct entries cost amortised linear time.
		s.code = dedupeCode(s.code)
		s.dedupeAt = 2 * len(s.code)
	}
	return end, true
}

// dedupeCode returns the distinct entries of code, sorted (cubins, then
// PTX, then unknown kinds; by SM; plain before arch-specific; by PTX
// version). Entries that differ only in Compressed are the same code; the
// first one's Compressed is kept.
func dedupeCode(code []FatbinEntry) []FatbinEntry {
	if len(code) == 0 {
		return nil
	}
	seen := make(map[FatbinEntry]bool, len(code))
	out := code[:0:0]
	for _, c := range code {
		k := c
		k.Compressed = false
		if !seen[k] {
			seen[k] = true
			out = append(out, c)
		}
	}
	sortCode(out)
	return out
}

func sortCode(code []FatbinEntry) {
	rank := map[string]int{KindCubin: 0, KindPTX: 1, KindUnknown: 2}
	sort.Slice(code, func(i, j int) bool {
		a, b := code[i], code[j]
		if a.Kind != b.Kind {
			return rank[a.Kind] < rank[b.Kind]
		}
		if a.RawKind != b.RawKind {
			return a.RawKind < b.RawKind
		}
		if a.SM != b.SM {
			return a.SM < b.SM
		}
		if a.ArchSpecific != b.ArchSpecific {
			return !a.ArchSpecific
		}
		return CompareVersions(a.PTXVersion, b.PTXVersion) < 0
	})
}
