package wheel

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
)

// Zip record signatures and sizes (APPNOTE.TXT 4.3).
const (
	sigLocal      = 0x04034b50
	sigCentral    = 0x02014b50
	sigEnd        = 0x06054b50
	sigEnd64      = 0x06064b50
	sigEnd64Loc   = 0x07064b50
	sigDescriptor = 0x08074b50
	endLen        = 22
	localLen      = 30
	centralLen    = 46
	maxCommentLen = 0xffff
)

// Open reads the archive's central directory. A file that starts like a
// zip archive but cannot be read is damaged (ErrCorrupt); anything else
// that is not a zip archive, an empty file included, is not a wheel
// (ErrInvalid). It does not look further than archive/zip does: see
// CheckStructure.
func Open(r io.ReaderAt, size int64) (*zip.Reader, error) {
	if size == 0 {
		return nil, fmt.Errorf("empty file, not a zip archive: %w", ErrInvalid)
	}
	var magic [4]byte
	r.ReadAt(magic[:], 0)
	isZip := bytes.Equal(magic[:], []byte("PK\x03\x04")) || bytes.Equal(magic[:], []byte("PK\x05\x06"))
	zr, err := zip.NewReader(r, size)
	if err != nil {
		if isZip {
			return nil, fmt.Errorf("unreadable zip archive, truncated or damaged (%v): %w", err, ErrCorrupt)
		}
		return nil, fmt.Errorf("not a zip archive (%v): %w", err, ErrInvalid)
	}
	return zr, nil
}

// CheckStructure finds what archive/zip accepts silently: bytes after the
// end record, local headers that disagree with the central directory,
// encrypted members, members that overlap and bytes no member accounts
// for. files is archive/zip's reading of the same archive (Open's).
// Errors wrap ErrCorrupt or ErrInvalid.
func CheckStructure(r io.ReaderAt, size int64, files []*zip.File) error {
	tail := int64(endLen + maxCommentLen)
	if tail > size {
		tail = size
	}
	buf := make([]byte, tail)
	if _, err := r.ReadAt(buf, size-tail); err != nil && err != io.EOF {
		return fmt.Errorf("reading end record: %v: %w", err, ErrCorrupt)
	}
	end := -1
	for i := len(buf) - endLen; i >= 0; i-- {
		if binary.LittleEndian.Uint32(buf[i:]) == sigEnd {
			end = i
			break
		}
	}
	if end < 0 {
		return fmt.Errorf("no end-of-central-directory record (truncated): %w", ErrCorrupt)
	}
	comment := int(binary.LittleEndian.Uint16(buf[end+20:]))
	if extra := len(buf) - (end + endLen + comment); extra != 0 {
		return fmt.Errorf("%d bytes of trailing data after the end of the archive: %w", extra, ErrInvalid)
	}
	cdOffset := int64(binary.LittleEndian.Uint32(buf[end+16:]))
	cdSize := int64(binary.LittleEndian.Uint32(buf[end+12:]))
	cdEnd := size - tail + int64(end) // the central directory ends where the end record starts
	count := int(binary.LittleEndian.Uint16(buf[end+10:]))
	// zip64: the locator sits right before the end record. A writer may
	// add one when no 32-bit field is saturated; the central directory
	// then ends at the zip64 end record.
	locAt := cdEnd - 20
	var loc [20]byte
	hasLoc := false
	if locAt >= 0 {
		_, err := r.ReadAt(loc[:], locAt)
		hasLoc = err == nil && binary.LittleEndian.Uint32(loc[:]) == sigEnd64Loc
	}
	if hasLoc {
		cdEnd = int64(binary.LittleEndian.Uint64(loc[8:]))
	}
	if cdOffset == 0xffffffff || count == 0xffff || cdSize == 0xffffffff {
		if !hasLoc {
			return fmt.Errorf("zip64 locator missing or unreadable: %w", ErrCorrupt)
		}
		var e64 [56]byte
		if _, err := r.ReadAt(e64[:], cdEnd); err != nil || binary.LittleEndian.Uint32(e64[:]) != sigEnd64 {
			return fmt.Errorf("zip64 end record unreadable: %w", ErrCorrupt)
		}
		count = int(binary.LittleEndian.Uint64(e64[32:]))
		cdSize = int64(binary.LittleEndian.Uint64(e64[40:]))
		cdOffset = int64(binary.LittleEndian.Uint64(e64[48:]))
	}
	// archive/zip reads an archive whose offsets are all short by the same
	// amount as one with something before it (cat other.zip wheel.whl), and
	// ignores what is there; a tool reading from the front sees another
	// archive.
	if gap := cdEnd - (cdOffset + cdSize); gap > 0 {
		return fmt.Errorf("%d bytes before the archive (another archive or a stub prepended): %w", gap, ErrInvalid)
	}
	if count != len(files) {
		return fmt.Errorf("central directory counts %d members, lists %d (header mismatch): %w", count, len(files), ErrCorrupt)
	}
	// Walk the central directory for each member's local header offset.
	off := cdOffset
	var hdr [centralLen]byte
	spans := make([]span, len(files))
	for i, f := range files {
		if _, err := r.ReadAt(hdr[:], off); err != nil || binary.LittleEndian.Uint32(hdr[:]) != sigCentral {
			return fmt.Errorf("central directory entry %d unreadable (header mismatch): %w", i, ErrCorrupt)
		}
		nameLen := int64(binary.LittleEndian.Uint16(hdr[28:]))
		extraLen := int64(binary.LittleEndian.Uint16(hdr[30:]))
		commentLen := int64(binary.LittleEndian.Uint16(hdr[32:]))
		localAt := int64(binary.LittleEndian.Uint32(hdr[42:]))
		if localAt == 0xffffffff {
			extra := make([]byte, extraLen)
			if _, err := r.ReadAt(extra, off+centralLen+nameLen); err != nil {
				return fmt.Errorf("central directory entry %d: %v: %w", i, err, ErrCorrupt)
			}
			localAt = zip64LocalOffset(extra, hdr[:])
		}
		if f.Flags&0x1 != 0 {
			return fmt.Errorf("member %s is encrypted: %w", f.Name, ErrInvalid)
		}
		dataAt, err := checkLocalHeader(r, localAt, f)
		if err != nil {
			return err
		}
		spans[i] = span{f: f, start: localAt, end: dataAt + int64(f.CompressedSize64)}
		off += centralLen + nameLen + extraLen + commentLen
	}
	return checkSpans(spans, cdOffset)
}

// span is the bytes of one member: its local header, name, extra field and
// data, not the data descriptor that may follow.
type span struct {
	f          *zip.File
	start, end int64
}

// maxDescriptorLen is the longest data descriptor: signature, CRC-32 and
// two 64-bit sizes.
const maxDescriptorLen = 24

// checkSpans refuses members that share bytes, bytes before the first
// member, and bytes between members or before the central directory that
// no member accounts for. CPython's zipfile refuses overlapping members
// ("Overlapped entries") since 3.12.x: central directory entries pointing
// into one another's data are how a 20 KiB archive inflates to 128 MiB,
// or a 278 KB one to 6 GiB, each member passing every check on its own.
// Unaccounted bytes are where a second archive hides.
func checkSpans(spans []span, cdOffset int64) error {
	sorted := append([]span(nil), spans...)
	sort.Slice(sorted, func(a, b int) bool { return sorted[a].start < sorted[b].start })
	next := func(i int) (int64, string) {
		if i+1 < len(sorted) {
			return sorted[i+1].start, "member " + sorted[i+1].f.Name
		}
		return cdOffset, "the central directory"
	}
	if len(sorted) > 0 && sorted[0].start > 0 {
		return fmt.Errorf("%d bytes before the first member, %s (another archive or a stub prepended): %w", sorted[0].start, sorted[0].f.Name, ErrInvalid)
	}
	for i, s := range sorted {
		at, what := next(i)
		if s.end > at {
			return fmt.Errorf("member %s (bytes %d to %d) and %s (from %d) overlap: a zip bomb or a disguised archive: %w", s.f.Name, s.start, s.end, what, at, ErrInvalid)
		}
		slack := int64(0)
		if s.f.Flags&0x8 != 0 {
			slack = maxDescriptorLen
		}
		if gap := at - s.end; gap > slack {
			return fmt.Errorf("%d bytes between member %s and %s that no member accounts for (a hidden or prepended archive): %w", gap, s.f.Name, what, ErrInvalid)
		}
	}
	return nil
}

// zip64LocalOffset reads the local header offset from a zip64 extra field;
// its fields appear only for the 32-bit values that are saturated.
func zip64LocalOffset(extra, hdr []byte) int64 {
	for len(extra) >= 4 {
		tag := binary.LittleEndian.Uint16(extra)
		n := int(binary.LittleEndian.Uint16(extra[2:]))
		if 4+n > len(extra) {
			break
		}
		if tag == 0x0001 {
			field := extra[4 : 4+n]
			for _, sat := range []bool{binary.LittleEndian.Uint32(hdr[24:]) == 0xffffffff, binary.LittleEndian.Uint32(hdr[20:]) == 0xffffffff} {
				if sat && len(field) >= 8 {
					field = field[8:]
				}
			}
			if len(field) >= 8 {
				return int64(binary.LittleEndian.Uint64(field))
			}
		}
		extra = extra[4+n:]
	}
	return -1
}

// checkLocalHeader compares the local header at at with f's central
// directory entry and returns where f's data starts.
func checkLocalHeader(r io.ReaderAt, at int64, f *zip.File) (int64, error) {
	var h [localLen]byte
	if at < 0 {
		return 0, fmt.Errorf("member %s: local header offset unreadable (header mismatch): %w", f.Name, ErrCorrupt)
	}
	if _, err := r.ReadAt(h[:], at); err != nil || binary.LittleEndian.Uint32(h[:]) != sigLocal {
		return 0, fmt.Errorf("member %s: no local header where the central directory points (header mismatch): %w", f.Name, ErrCorrupt)
	}
	nameLen := int(binary.LittleEndian.Uint16(h[26:]))
	dataAt := at + localLen + int64(nameLen) + int64(binary.LittleEndian.Uint16(h[28:]))
	name := make([]byte, nameLen)
	if _, err := r.ReadAt(name, at+localLen); err != nil {
		return 0, fmt.Errorf("member %s: local header name unreadable: %w", f.Name, ErrCorrupt)
	}
	if !bytes.Equal(name, []byte(f.Name)) {
		return 0, fmt.Errorf("member %s: local header names it %q (header mismatch): %w", f.Name, name, ErrCorrupt)
	}
	flags := binary.LittleEndian.Uint16(h[6:])
	if flags&0x8 != 0 {
		return dataAt, nil // sizes and CRC follow the data, in a descriptor archive/zip checks
	}
	crc := binary.LittleEndian.Uint32(h[14:])
	csize := binary.LittleEndian.Uint32(h[18:])
	usize := binary.LittleEndian.Uint32(h[22:])
	if crc != f.CRC32 {
		return 0, fmt.Errorf("member %s: local header CRC %08x, central directory %08x (header mismatch): %w", f.Name, crc, f.CRC32, ErrCorrupt)
	}
	if csize != 0xffffffff && usize != 0xffffffff && (uint64(csize) != f.CompressedSize64 || uint64(usize) != f.UncompressedSize64) {
		return 0, fmt.Errorf("member %s: local header sizes %d/%d, central directory %d/%d (header mismatch): %w", f.Name, csize, usize, f.CompressedSize64, f.UncompressedSize64, ErrCorrupt)
	}
	return dataAt, nil
}

// CheckDescriptor compares the CRC-32 in the data descriptor that follows a
// member's data, when its local header says there is one, with the central
// directory's, as archive/zip's reader does at the end of a member. The
// descriptor may or may not start with its signature; the sizes after the
// CRC may be 32 or 64 bits wide, and are not read. Its error names no
// kind: the caller, which knows the member, adds it.
func CheckDescriptor(r io.ReaderAt, f *zip.File) error {
	if f.Flags&0x8 == 0 {
		return nil
	}
	at, err := f.DataOffset()
	if err != nil {
		return err
	}
	var d [8]byte
	if _, err := r.ReadAt(d[:], at+int64(f.CompressedSize64)); err != nil {
		return fmt.Errorf("data descriptor unreadable (%v)", err)
	}
	crc := binary.LittleEndian.Uint32(d[:])
	if crc == sigDescriptor {
		crc = binary.LittleEndian.Uint32(d[4:])
	}
	if crc != f.CRC32 {
		return fmt.Errorf("checksum error: data descriptor CRC-32 %08x, central directory %08x", crc, f.CRC32)
	}
	return nil
}
