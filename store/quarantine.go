package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Quarantine: an entry whose files failed verification (doctor --verify)
// is marked, and no command links it again until it is re-ingested from a
// wheel whose sha256 is its name (Reingest). The marks are meta rows
// ('quarantine/<sha256>' → the reason): they need no schema change, and a
// forge that does not know them ignores them.
const quarantineKey = "quarantine/"

// ErrQuarantined is an entry that failed verification; it wraps ErrCorrupt.
var ErrQuarantined = fmt.Errorf("failed verification and is quarantined: %w", ErrCorrupt)

// Quarantine marks an entry, with the reason doctor found.
func (s *Store) Quarantine(ctx context.Context, sha, reason string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, quarantineKey+sha, reason)
	return err
}

// Quarantined returns the reason an entry is quarantined, or "" when it is not.
func (s *Store) Quarantined(ctx context.Context, sha string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT CAST(value AS TEXT) FROM meta WHERE key = ?`, quarantineKey+sha).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// WheelFor returns a wheel file forge ingested with this digest and that
// is still there (the identity cache records where wheels came from), or "".
func (s *Store) WheelFor(ctx context.Context, sha string) (string, error) {
	paths, err := queryStrings(ctx, s.db, `SELECT path FROM wheel_files WHERE sha256 = ? ORDER BY path`, sha)
	if err != nil {
		return "", err
	}
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", nil
}

// Reingest replaces a quarantined entry's directory by a fresh unpacking of
// wheel, which must hash to sha, and lifts the quarantine. The wheel is
// ingested, with every check of Ingest, into a scratch store under
// store/.staging (same filesystem); its entry directory then replaces the
// damaged one with two renames under the entry's ingest lock: a crash in
// between leaves entries/<sha> missing (doctor: entry_missing; install the
// wheel again) and the damaged copy in staging. The entry's shared layout
// (views/) is removed: its .dist-info files were hard links of the damaged
// files. Environments' links into the entry are by path and see the new
// files at once; links into its shared layout must be relinked (doctor
// --fix does), and the layout is built again on first use.
func (s *Store) Reingest(ctx context.Context, sha, wheel string) error {
	scratch := filepath.Join(s.StagingDir(), "reingest-"+sha[:16]+"-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	defer removeTree(scratch)
	tmp, err := Open(scratch)
	if err != nil {
		return err
	}
	res, err := tmp.Ingest(ctx, wheel)
	tmp.Close()
	if err != nil {
		return fmt.Errorf("re-ingesting entry %s from %s: %w", sha, wheel, err)
	}
	if res.Entry.SHA256 != sha {
		return fmt.Errorf("re-ingesting entry %s: %s has sha256 %s: %w", sha, wheel, res.Entry.SHA256, ErrCorrupt)
	}
	lk, err := s.lockIngest(ctx, sha)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	fresh := tmp.EntryDir(sha)
	if err := os.Chmod(fresh, 0o755); err != nil { // its ".." changes
		return err
	}
	if err := s.discardDir(s.EntryDir(sha), "quarantined-"+sha[:16]); err != nil {
		return err
	}
	if err := os.Rename(fresh, s.EntryDir(sha)); err != nil {
		return err
	}
	if err := os.Chmod(s.EntryDir(sha), 0o555); err != nil {
		return err
	}
	if err := syncDir(s.EntriesDir()); err != nil {
		return err
	}
	if err := s.removeViews(sha); err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `DELETE FROM meta WHERE key = ?`, quarantineKey+sha)
	return err
}

// QuarantinedAll returns every quarantined entry with its reason.
func (s *Store) QuarantinedAll(ctx context.Context) (map[string]string, error) {
	return s.queryMap(ctx, `SELECT substr(key, ?), CAST(value AS TEXT) FROM meta WHERE substr(key, 1, ?) = ?`,
		len(quarantineKey)+1, len(quarantineKey), quarantineKey)
}
