package wheel_test

import (
	"archive/zip"
	"bytes"
	"errors"
	"sort"
	"testing"

	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/wheel"
)

// openZip opens an archive as store's ingest does: Open, then
// CheckStructure.
func openZip(r *bytes.Reader, size int64) (*zip.Reader, error) {
	zr, err := wheel.Open(r, size)
	if err != nil {
		return nil, err
	}
	if err := wheel.CheckStructure(r, size, zr.File); err != nil {
		return nil, err
	}
	return zr, nil
}

// FuzzOpenZip feeds arbitrary bytes to openZip, the structural checks
// before any member is read: it never panics; a refusal wraps ErrInvalid or
// ErrCorrupt; an accepted archive starts with its first member, and no
// member's header and data reach into the next member's header, as
// archive/zip reports their offsets. Seeds: a good wheel and every hostile
// case under 64 KiB (overlapping members, prepended archives, trailing
// data, header mismatches among them).
func FuzzOpenZip(f *testing.F) {
	b, err := fixtures.DataPackage("fz", "1.0").Bytes()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	for _, h := range fixtures.HostileWheels() {
		if len(h.Data) < 64<<10 {
			f.Add(h.Data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		zr, err := openZip(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !errors.Is(err, wheel.ErrInvalid) && !errors.Is(err, wheel.ErrCorrupt) {
				t.Fatalf("refusal is neither ErrInvalid nor ErrCorrupt: %v", err)
			}
			return
		}
		type member struct{ header, dataAt, end int64 }
		var ms []member
		for _, zf := range zr.File {
			at, err := zf.DataOffset()
			if err != nil {
				t.Fatalf("accepted, but %s has no data offset: %v", zf.Name, err)
			}
			// The local header holds the name at least; its extra field
			// may be longer than the central directory's.
			ms = append(ms, member{header: at - wheel.LocalHeaderLen - int64(len(zf.Name)), dataAt: at, end: at + int64(zf.CompressedSize64)})
		}
		sort.Slice(ms, func(a, b int) bool { return ms[a].dataAt < ms[b].dataAt })
		for i := 1; i < len(ms); i++ {
			if ms[i-1].end > ms[i].header {
				t.Fatalf("accepted overlapping members: data to %d, next header from %d", ms[i-1].end, ms[i].header)
			}
		}
	})
}
