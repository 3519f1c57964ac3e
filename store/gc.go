package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"
)

// Unreferenced returns the entries no environment uses: refs = 0 and no
// manifest row names them. Both are checked, so that a refcount that drifted
// low never makes a linked entry collectable.
func (s *Store) Unreferenced(ctx context.Context) ([]*Entry, error) {
	return s.queryEntries(ctx, unreferencedQuery)
}

// unreferencedQuery reads the index entries_unreferenced, which holds the
// entries with refs = 0 in this order: not every entry of the store.
//
// An entry a snapshot names is kept too: a rollback links it again.
const unreferencedQuery = `SELECT ` + entryCols + ` FROM entries e WHERE e.refs = 0
	AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.entry = e.sha256)
	AND NOT EXISTS (SELECT 1 FROM snapshot_entries s WHERE s.entry = e.sha256) ORDER BY norm_name, version, sha256`

// RemoveEntry collects one unreferenced entry. It returns false, and removes
// nothing, when the entry is referenced (or gone) by the time it looks.
//
// Order, chosen for crash safety: under the entry's ingest lock, the row is
// deleted in a transaction that re-checks refs and manifests; only then is the
// directory renamed out of entries/ into staging and deleted there. A crash
// after the commit leaves a complete directory without a row (doctor's
// orphan_dir; Ingest replaces it); a crash after the rename leaves a stale
// staging directory. No directory under entries/ is ever partly deleted, and
// a row never names a directory that is being deleted.
//
// The caller must hold the "gc" lock exclusively so that no install is
// between ingesting (or choosing) this entry and counting its reference.
func (s *Store) RemoveEntry(ctx context.Context, sha string) (bool, error) {
	if !isDigest(sha) {
		return false, fmt.Errorf("entry %q: not a sha256 digest: %w", sha, ErrInvalid)
	}
	lk, err := s.lockIngest(ctx, sha)
	if err != nil {
		return false, err
	}
	defer lk.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM entries WHERE sha256 = ? AND refs = 0
		AND NOT EXISTS (SELECT 1 FROM manifests WHERE entry = ?)
		AND NOT EXISTS (SELECT 1 FROM snapshot_entries WHERE entry = ?)`, sha, sha, sha)
	if err != nil {
		return false, fmt.Errorf("entry %s: %w", sha, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("entry %s: %w", sha, err)
	}
	if err := s.discardDir(s.EntryDir(sha), "gc-"+sha[:16]); err != nil {
		return true, fmt.Errorf("entry %s: row removed, directory left for doctor: %w", sha, err)
	}
	if err := s.removeViews(sha); err != nil {
		return true, fmt.Errorf("entry %s: row removed, shared layout left for doctor: %w", sha, err)
	}
	return true, nil
}

// RemoveOrphanDir deletes a directory under entries/ (and the entry's
// shared layout under views/) that has no row (the
// trace of a crash between rename and commit in Ingest, or in RemoveEntry).
// It re-checks under the entry's ingest lock and returns false when a row
// exists by then.
func (s *Store) RemoveOrphanDir(ctx context.Context, name string) (bool, error) {
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." {
		return false, fmt.Errorf("store directory %q: %w", name, ErrInvalid)
	}
	if isDigest(name) {
		lk, err := s.lockIngest(ctx, name)
		if err != nil {
			return false, err
		}
		defer lk.Unlock()
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM entries WHERE sha256 = ?`, name).Scan(&n); err != nil {
			return false, err
		}
		if n > 0 {
			return false, nil
		}
	}
	removed := false
	for _, p := range []string{filepath.Join(s.EntriesDir(), name), filepath.Join(s.ViewsDir(), name)} {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err := s.discardDir(p, "orphan-"+prefix16(name)); err != nil {
			return removed, fmt.Errorf("store directory %s: %w", p, err)
		}
		removed = true
	}
	return removed, nil
}

// discardDir moves p (under entries/) into staging with one rename, so that
// it leaves entries/ atomically, then deletes it.
func (s *Store) discardDir(p, tag string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	if !fi.IsDir() {
		return os.Remove(p)
	}
	// Moving a directory to another parent rewrites its "..": it must be
	// writable.
	if err := os.Chmod(p, 0o755); err != nil {
		return err
	}
	dst := filepath.Join(s.StagingDir(), tag+"-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	if err := os.Rename(p, dst); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return err
	}
	return removeTree(dst)
}

// StagingDir is one item under store/.staging.
type StagingItem struct {
	Name    string    `json:"name"`
	Path    string    `json:"path"`
	ModTime time.Time `json:"mod_time"`
}

// StagingItems lists store/.staging: ingests in progress or interrupted,
// and collected entries on their way out.
func (s *Store) StagingItems() ([]StagingItem, error) {
	ents, err := os.ReadDir(s.StagingDir())
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []StagingItem
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, StagingItem{Name: e.Name(), Path: filepath.Join(s.StagingDir(), e.Name()), ModTime: fi.ModTime()})
	}
	return out, nil
}

// RemoveStaging deletes a staging item unless an ingest of the same digest
// holds its lock right now (then it returns false). Callers pass only items
// old enough to be stale, and hold the "gc" lock exclusively.
func (s *Store) RemoveStaging(ctx context.Context, name string) (bool, error) {
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." {
		return false, fmt.Errorf("staging item %q: %w", name, ErrInvalid)
	}
	if p := hex16Re().FindString(name); p != "" {
		lk, err := s.tryLockIngest(p)
		if lk == nil || err != nil {
			return false, err
		}
		defer lk.Unlock()
	}
	p := filepath.Join(s.StagingDir(), name)
	if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err := removeTree(p); err != nil {
		return false, fmt.Errorf("staging %s: %w", name, err)
	}
	return true, nil
}

// isDigest reports whether s is a SHA-256 digest in lower-case hex, the
// name of a store entry.
func isDigest(s string) bool { return isLowerHex(s, 64) }

// isLowerHex reports whether s is n lower-case hex digits.
func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// hex16Re is compiled on first use: package initialisation is on the path
// of every forge command.
var hex16Re = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[0-9a-f]{16}`) })

func prefix16(s string) string {
	if len(s) > 16 {
		return s[:16]
	}
	return s
}
