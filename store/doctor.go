package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/forge-ml/forge/wheel"
)

// LayerLink is one row of the links table.
type LayerLink struct {
	Layer string `json:"layer"`
	Path  string `json:"path"`
	Entry string `json:"entry"`
	Kind  string `json:"kind"`
}

// AllLinks returns every links row, by layer and path.
func (s *Store) AllLinks(ctx context.Context) ([]LayerLink, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT layer, path, entry, kind FROM links ORDER BY layer, path, entry`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []LayerLink
	for rows.Next() {
		var l LayerLink
		if err := rows.Scan(&l.Layer, &l.Path, &l.Entry, &l.Kind); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// EntryDirs lists the names under entries/ (normally sha256 digests).
func (s *Store) EntryDirs() ([]string, error) {
	ents, err := os.ReadDir(s.EntriesDir())
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out, nil
}

// ViewDirs lists the names under views/ (entry digests).
func (s *Store) ViewDirs() ([]string, error) {
	ents, err := os.ReadDir(s.ViewsDir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out, nil
}

// Recount sets every entry's refs to the number of manifest rows naming it,
// in one statement, and returns how many rows changed.
func (s *Store) Recount(ctx context.Context) (int, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE entries SET refs = (SELECT count(*) FROM manifests m WHERE m.entry = entries.sha256)
		WHERE refs != (SELECT count(*) FROM manifests m WHERE m.entry = entries.sha256)`)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// DropEntryRow deletes an entry's row when nothing references it; the
// caller has checked that its directory is missing. False when referenced.
func (s *Store) DropEntryRow(ctx context.Context, sha string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM entries WHERE sha256 = ? AND refs = 0
		AND NOT EXISTS (SELECT 1 FROM manifests WHERE entry = ?)`, sha, sha)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// DropManifest deletes a manifest row and the entry's links rows in that
// layer, and sets the entry's refs from the remaining manifests, in one
// transaction. Unlike RemoveManifest it tolerates a missing entry row and a
// refcount that had already drifted. The caller removes the files.
func (s *Store) DropManifest(ctx context.Context, layer, normName string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var entry string
	if err := tx.QueryRowContext(ctx, `SELECT entry FROM manifests WHERE layer = ? AND norm_name = ?`, layer, normName).Scan(&entry); err != nil {
		return fmt.Errorf("%s in layer %s: %w", normName, layer, ErrNotFound)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM links WHERE layer = ? AND entry = ?`, layer, entry); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM manifests WHERE layer = ? AND norm_name = ?`, layer, normName); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE entries SET refs = (SELECT count(*) FROM manifests WHERE entry = ?) WHERE sha256 = ?`, entry, entry); err != nil {
		return err
	}
	return tx.Commit()
}

// DropLinkRows deletes the links rows of an entry in a layer that has no
// manifest row for it.
func (s *Store) DropLinkRows(ctx context.Context, layer, entry string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM links WHERE layer = ? AND entry = ?
		AND NOT EXISTS (SELECT 1 FROM manifests WHERE layer = ? AND entry = ?)`, layer, entry, layer, entry)
	return err
}

// ForgetEnv deletes an environment's record with its manifests and links,
// recounting the entries they named, in one transaction. It refuses when the
// environment has children. The caller deals with the directory.
func (s *Store) ForgetEnv(ctx context.Context, name string) error {
	tx, err := s.beginEnvRemoval(ctx, name)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmts := []string{
		`DELETE FROM links WHERE layer = ?`,
		`DELETE FROM manifests WHERE layer = ?`,
		`DELETE FROM envs WHERE name = ?`,
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q, name); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE entries SET refs = (SELECT count(*) FROM manifests m WHERE m.entry = entries.sha256)
		WHERE refs != (SELECT count(*) FROM manifests m WHERE m.entry = entries.sha256)`); err != nil {
		return err
	}
	return tx.Commit()
}

// EntryCheck is what CheckEntry found in one entry directory.
type EntryCheck struct {
	// Files is the number of RECORD-listed files examined.
	Files int
	// Hashed is the number of files whose content was hashed.
	Hashed int
	// Missing are RECORD paths absent from the directory.
	Missing []string
	// Mismatch are files whose size or digest differs from RECORD.
	Mismatch []FileMismatch
	// Extra are files in the directory that RECORD does not list.
	Extra []string
	// Writable are paths (relative, slash-separated) with a write bit set.
	Writable []string
}

// FileMismatch is one file whose content is not what RECORD says.
type FileMismatch struct {
	Path string `json:"path"`
	Want string `json:"want"`
	Got  string `json:"got"`
}

// Corrupt reports whether the entry's content differs from its RECORD.
func (c *EntryCheck) Corrupt() bool {
	return len(c.Missing)+len(c.Mismatch)+len(c.Extra) > 0
}

// CheckEntry compares an entry directory with the RECORD of its .dist-info:
// every listed file exists with the recorded size (and, with hash, digest),
// nothing unlisted is present, and nothing is writable. It reads the store
// only; it is safe to run concurrently for different entries. A missing or
// unreadable RECORD is an error wrapping ErrCorrupt.
func (s *Store) CheckEntry(ctx context.Context, sha string, hash bool) (*EntryCheck, error) {
	dir := s.EntryDir(sha)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	distInfo := ""
	for _, e := range ents {
		if e.IsDir() && strings.HasSuffix(e.Name(), ".dist-info") {
			distInfo = e.Name()
		}
	}
	if distInfo == "" {
		return nil, fmt.Errorf("entry %s: no .dist-info directory: %w", sha, ErrCorrupt)
	}
	raw, err := os.ReadFile(filepath.Join(dir, distInfo, "RECORD"))
	if err != nil {
		return nil, fmt.Errorf("entry %s: RECORD: %v: %w", sha, err, ErrCorrupt)
	}
	recs, err := wheel.ParseRecord(raw)
	if err != nil {
		return nil, fmt.Errorf("entry %s: %v: %w", sha, err, ErrCorrupt)
	}
	c := &EntryCheck{}
	listed := make(map[string]bool, len(recs))
	for _, r := range recs {
		listed[r.Path] = true
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink == 0 && fi.Mode().Perm()&0o222 != 0 {
			c.Writable = append(c.Writable, rel)
		}
		if d.IsDir() {
			return nil
		}
		if !listed[rel] && !wheel.IsRecordFile(distInfo, rel) {
			c.Extra = append(c.Extra, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("entry %s: %w", sha, err)
	}
	for _, r := range recs {
		if r.Algo == "" && r.Size < 0 {
			continue // RECORD itself, signatures
		}
		c.Files++
		p := filepath.Join(dir, filepath.FromSlash(r.Path))
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() {
			c.Missing = append(c.Missing, r.Path)
			continue
		}
		if r.Size >= 0 && fi.Size() != r.Size {
			c.Mismatch = append(c.Mismatch, FileMismatch{Path: r.Path, Want: fmt.Sprintf("%d bytes", r.Size), Got: fmt.Sprintf("%d bytes", fi.Size())})
			continue
		}
		if !hash || r.Algo == "" {
			continue
		}
		sum, err := hashFile(p, r.Algo)
		if err != nil {
			return nil, fmt.Errorf("entry %s: %s: %w", sha, r.Path, err)
		}
		c.Hashed++
		if !bytes.Equal(sum, r.Digest) {
			c.Mismatch = append(c.Mismatch, FileMismatch{Path: r.Path, Want: wheel.RecordDigest(r.Algo, r.Digest), Got: wheel.RecordDigest(r.Algo, sum)})
		}
	}
	sort.Strings(c.Extra)
	return c, nil
}

func hashFile(p, algo string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := wheel.NewHash(algo)
	bufp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bufp)
	if _, err := io.CopyBuffer(h, f, *bufp); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// SealEntry makes every path of an entry read-only again (files keep their
// execute bits; directories become 0555, deepest first) and returns how
// many it changed.
func (s *Store) SealEntry(sha string) (int, error) {
	dir := s.EntryDir(sha)
	var dirs []string
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 || fi.Mode().Perm()&0o222 == 0 {
			return nil
		}
		mode := fs.FileMode(0o444)
		if fi.Mode().Perm()&0o111 != 0 {
			mode = 0o555
		}
		n++
		return os.Chmod(p, mode)
	})
	if err != nil {
		return n, fmt.Errorf("entry %s: %w", sha, err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		fi, err := os.Lstat(dirs[i])
		if err != nil {
			return n, err
		}
		if fi.Mode().Perm()&0o222 == 0 {
			continue
		}
		n++
		if err := os.Chmod(dirs[i], 0o555); err != nil {
			return n, err
		}
	}
	return n, nil
}

// LinksUnder reports whether a links row of layer, for an entry other than
// entry, lies below dir (a path relative to the layer root).
func (s *Store) LinksUnder(ctx context.Context, layer, dir, entry string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM links WHERE layer = ? AND entry != ? AND substr(path, 1, ?) = ?`,
		layer, entry, len(dir)+1, dir+"/").Scan(&n)
	return n > 0, err
}
