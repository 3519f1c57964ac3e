package store

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/forge-ml/forge/wheel"
)

// VerifyWheel checks a wheel file against its own RECORD without a store:
// every member listed, with a hash, and its content matching that hash and
// size; every listed path present. It is what Ingest checks of content, for
// commands that read a wheel without ingesting it (forge abi check), so
// that a wheel install would refuse with exit 4 is not accepted there.
// Errors wrap ErrCorrupt (content or archive damage) or ErrInvalid (no or
// malformed RECORD), with the wheel's file name. It reads every member
// once; ctx is checked between members.
func VerifyWheel(ctx context.Context, wheelPath string) error {
	base := filepath.Base(wheelPath)
	f, err := os.Open(wheelPath)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	zr, err := openZip(f, fi.Size())
	if err != nil {
		return fmt.Errorf("wheel %s: %w", base, err)
	}
	recordPath := ""
	for _, m := range zr.File {
		dir, name := path.Split(m.Name)
		if name == "RECORD" && strings.Count(dir, "/") == 1 && strings.HasSuffix(dir, ".dist-info/") {
			if recordPath != "" {
				return fmt.Errorf("wheel %s: two RECORD files (%s, %s): %w", base, recordPath, m.Name, ErrInvalid)
			}
			recordPath = m.Name
		}
	}
	if recordPath == "" {
		return fmt.Errorf("wheel %s: missing RECORD (no .dist-info/RECORD): %w", base, ErrInvalid)
	}
	distInfo := path.Dir(recordPath)
	byName := make(map[string]bool, len(zr.File))
	var raw []byte
	for _, m := range zr.File {
		byName[m.Name] = true
		if m.Name == recordPath {
			if raw, err = readMember(m, 64<<20); err != nil {
				return fmt.Errorf("wheel %s: %w", base, err)
			}
		}
	}
	entries, err := wheel.ParseRecord(raw)
	if err != nil {
		return fmt.Errorf("wheel %s: malformed RECORD: %v: %w", base, err, ErrInvalid)
	}
	record := make(map[string]wheel.RecordEntry, len(entries))
	for _, e := range entries {
		record[e.Path] = e
		if !byName[e.Path] && !byName[strings.TrimSuffix(e.Path, "/")+"/"] {
			return fmt.Errorf("wheel %s: RECORD lists %s, which is missing from archive: %w", base, e.Path, ErrCorrupt)
		}
	}
	for _, m := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasSuffix(m.Name, "/") {
			continue
		}
		e, listed := record[m.Name]
		isSig := wheel.IsRecordFile(distInfo, m.Name)
		switch {
		case isSig:
			continue
		case !listed:
			return fmt.Errorf("wheel %s: member %s is not in RECORD: %w", base, m.Name, ErrCorrupt)
		case e.Algo == "":
			return fmt.Errorf("wheel %s: RECORD has no hash for %s: %w", base, m.Name, ErrCorrupt)
		}
		if err := verifyMember(m.Open, m.Name, e); err != nil {
			return fmt.Errorf("wheel %s: %w", base, err)
		}
	}
	return nil
}

// verifyMember hashes one member and compares it with its RECORD line.
func verifyMember(open func() (io.ReadCloser, error), name string, e wheel.RecordEntry) error {
	rc, err := open()
	if err != nil {
		return fmt.Errorf("member %s: %v: %w", name, err, ErrCorrupt)
	}
	defer rc.Close()
	h := wheel.NewHash(e.Algo)
	n, err := io.Copy(h, rc)
	if err != nil { // archive/zip's CRC-32 and size checks
		return fmt.Errorf("member %s: %v: %w", name, err, ErrCorrupt)
	}
	if e.Size >= 0 && e.Size != n {
		return fmt.Errorf("member %s: size mismatch: %d bytes, RECORD says %d: %w", name, n, e.Size, ErrCorrupt)
	}
	if sum := h.Sum(nil); !bytes.Equal(sum, e.Digest) {
		return fmt.Errorf("member %s: hash mismatch: RECORD %s, content %s: %w", name, wheel.RecordDigest(e.Algo, e.Digest), wheel.RecordDigest(e.Algo, sum), ErrCorrupt)
	}
	return nil
}

// readMember reads a small member whole.
func readMember(m *zip.File, limit int64) ([]byte, error) {
	rc, err := m.Open()
	if err != nil {
		return nil, fmt.Errorf("member %s: %v: %w", m.Name, err, ErrCorrupt)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("member %s: %v: %w", m.Name, err, ErrCorrupt)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s larger than %d MiB: %w", m.Name, limit>>20, ErrInvalid)
	}
	return b, nil
}
