package store

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/wheel"
)

// RecoverEntry makes the row of an entry directory that has none (forge.db
// was emptied or rolled back), from the directory alone: each entry is the
// unpacked wheel whose sha256 names it, .dist-info included, so its name,
// version, build and tags come from WHEEL and METADATA, and its ABI
// fingerprint is computed again from its files as ingest computed it. What
// the directory does not hold: the wheel file's size (recorded as 0) and
// its exact file name (made from the name, version, build and WHEEL's tags).
// The directory's content is checked against its RECORD first (CheckEntry,
// hashing every file): a damaged entry gets no row. An existing row is kept.
func (s *Store) RecoverEntry(ctx context.Context, sha string) (*Entry, error) {
	if !isDigest(sha) {
		return nil, fmt.Errorf("store directory %q: not a sha256 digest: %w", sha, ErrInvalid)
	}
	if e, err := s.Get(ctx, sha); err == nil {
		return e, nil
	}
	c, err := s.CheckEntry(ctx, sha, true)
	if err != nil {
		return nil, err
	}
	if c.Corrupt() {
		return nil, fmt.Errorf("entry %s: its files differ from its RECORD: %w", sha, ErrCorrupt)
	}
	dir := s.EntryDir(sha)
	distInfo, wi, metaRaw, err := readEntryMeta(dir, sha)
	if err != nil {
		return nil, err
	}
	md, err := wheel.ParseMetadata(metaRaw)
	if err != nil {
		return nil, fmt.Errorf("entry %s: %v: %w", sha, err, ErrCorrupt)
	}
	stem := strings.TrimSuffix(distInfo, ".dist-info")
	name, version, ok := strings.Cut(stem, "-")
	if !ok {
		name, version = stem, md.Version
	}
	filename := name + "-" + version
	if wi.Build != "" {
		filename += "-" + wi.Build
	}
	filename += "-" + wheel.CompressTags(wi.Tags) + ".whl"
	wf, err := wheel.ParseFilename(filename)
	if err != nil {
		return nil, fmt.Errorf("entry %s: file name %s: %v: %w", sha, filename, err, ErrCorrupt)
	}
	fp, files, size, err := fingerprintDir(dir, distInfo, wf, wi.Tags, metaRaw)
	if err != nil {
		return nil, fmt.Errorf("entry %s: %w", sha, err)
	}
	e := &Entry{SHA256: sha, Name: md.Name, NormName: wheel.NormalizeName(wf.Name), Version: wf.Version, Build: wf.Build,
		Filename: filename, Size: size, Files: files, Fingerprint: fp}
	if e.Name == "" {
		e.Name = wf.Name
	}
	for _, t := range wf.Tags {
		e.Tags = append(e.Tags, t.String())
	}
	tagsJSON, _ := json.Marshal(e.Tags)
	fpJSON, err := json.Marshal(e.Fingerprint)
	if err != nil {
		return nil, err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO entries (`+entryCols+`, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,0,?,?)
		ON CONFLICT(sha256) DO NOTHING`,
		e.SHA256, e.Name, e.NormName, e.Version, e.Build, e.Filename, string(tagsJSON), e.WheelSize, e.Size, e.Files, string(fpJSON), time.Now().UnixNano())
	if err != nil {
		return nil, fmt.Errorf("entry %s: recording: %w", sha, err)
	}
	return s.Get(ctx, sha)
}

// RecordRelinking inserts manifest rows in state "relinking" and counts
// their references, in one transaction: doctor --rebuild records each
// package it finds installed so, and then relinks it (which records its
// paths and marks it linked). A crash in between is resumed by doctor --fix.
func (s *Store) RecordRelinking(ctx context.Context, ms []Manifest) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := time.Now().UnixNano()
	for _, m := range ms {
		res, err := tx.ExecContext(ctx, `INSERT INTO manifests (layer, norm_name, entry, link_mode, state, requested, created_at)
			SELECT ?, ?, sha256, ?, ?, ?, ? FROM entries WHERE sha256 = ? ON CONFLICT (layer, norm_name) DO NOTHING`,
			m.Layer, m.NormName, m.LinkMode, string(StateRelinking), m.Requested, now, m.Entry)
		if err != nil {
			return fmt.Errorf("layer %s: %s: %w", m.Layer, m.NormName, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue // recorded already (or its entry has no row)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE entries SET refs = refs + 1 WHERE sha256 = ?`, m.Entry); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// fingerprintDir computes the ABI fingerprint of an unpacked wheel from its
// files, as ingest computes it from the archive, and counts its files and
// bytes.
func fingerprintDir(dir, distInfo string, wf wheel.Filename, wheelTags []string, metaRaw []byte) (abi.Fingerprint, int, int64, error) {
	fb := abi.NewFingerprintBuilder(wf)
	fb.SetWheelFile(wheelTags)
	fb.SetMetadata(metaRaw)
	if wf.Variant != "" {
		raw, err := os.ReadFile(filepath.Join(dir, distInfo, wheel.VariantFile))
		if err != nil {
			raw = nil
		}
		fb.SetVariantJSON(raw)
	}
	var size int64
	files := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		files++
		size += fi.Size()
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		head := make([]byte, 4)
		if n, _ := f.ReadAt(head, 0); abi.IsELF(head[:n]) {
			rel, _ := filepath.Rel(dir, p)
			fb.AddELF(filepath.ToSlash(rel), f, fi.Size())
		}
		return nil
	})
	if err != nil {
		return abi.Fingerprint{}, 0, 0, err
	}
	return fb.Finish(files), files, size, nil
}

// Refingerprint computes an entry's ABI fingerprint again from its files
// and records it: an entry ingested by an older forge (Fingerprint.Schema
// below abi.FingerprintSchema) lacks what newer readers find — device code
// outside .nv_fatbin, the sm_XYa flag, a variant's claims. The entry's
// files are read, never changed.
func (s *Store) Refingerprint(ctx context.Context, sha string) (*Entry, error) {
	e, err := s.Get(ctx, sha)
	if err != nil {
		return nil, err
	}
	dir := s.EntryDir(sha)
	wf, err := wheel.ParseFilename(e.Filename)
	if err != nil {
		return nil, fmt.Errorf("entry %s: file name %s: %v: %w", sha, e.Filename, err, ErrCorrupt)
	}
	distInfo, wi, metaRaw, err := readEntryMeta(dir, sha)
	if err != nil {
		return nil, err
	}
	fp, _, _, err := fingerprintDir(dir, distInfo, wf, wi.Tags, metaRaw)
	if err != nil {
		return nil, fmt.Errorf("entry %s: %w", sha, err)
	}
	fpJSON, err := json.Marshal(fp)
	if err != nil {
		return nil, err
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE entries SET fingerprint = ? WHERE sha256 = ?`, string(fpJSON), sha); err != nil {
		return nil, fmt.Errorf("entry %s: recording its fingerprint: %w", sha, err)
	}
	return s.Get(ctx, sha)
}

// readEntryMeta reads the .dist-info of the entry directory dir: its name,
// its WHEEL (parsed) and its METADATA (raw).
func readEntryMeta(dir, sha string) (distInfo string, wi wheel.Info, metaRaw []byte, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", wi, nil, err
	}
	for _, e := range ents {
		if e.IsDir() && strings.HasSuffix(e.Name(), ".dist-info") {
			distInfo = e.Name()
		}
	}
	wheelRaw, err := os.ReadFile(filepath.Join(dir, distInfo, "WHEEL"))
	if err != nil {
		return "", wi, nil, fmt.Errorf("entry %s: %v: %w", sha, err, ErrCorrupt)
	}
	if metaRaw, err = os.ReadFile(filepath.Join(dir, distInfo, "METADATA")); err != nil {
		return "", wi, nil, fmt.Errorf("entry %s: %v: %w", sha, err, ErrCorrupt)
	}
	if wi, err = wheel.ParseInfo(wheelRaw); err != nil {
		return "", wi, nil, fmt.Errorf("entry %s: %v: %w", sha, err, ErrCorrupt)
	}
	return distInfo, wi, metaRaw, nil
}
