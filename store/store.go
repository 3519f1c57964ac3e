// Package store is forge's content-addressed wheel store: every wheel is
// unpacked once under $FORGE_HOME/store/entries/<sha256 of the wheel file>,
// read-only, with its metadata in SQLite ($FORGE_HOME/forge.db).
//
// Lifecycle of an entry: ingest (stage under store/.staging, verify every
// member against RECORD, fsync) → rename into entries/ → make read-only →
// commit the row. A directory under entries/ is complete; a row exists only
// for a complete directory. Ingesting the same wheel twice, or from two
// processes at once, yields one entry: "already exists" is success.
package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"

	"modernc.org/sqlite"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/wheel"
)

// Store is an open store. It is safe for concurrent use by several goroutines
// and, through SQLite and file locks, by several processes.
type Store struct {
	home  string
	db    *sql.DB
	stmts stmtCache
	// skipFingerprint leaves ELF members unread; tests set it to measure
	// what fingerprinting adds to ingest (see export_test.go).
	skipFingerprint bool
	// wheelMem is the size of the wheels held in memory while they are
	// unpacked (see wholeWheelMax).
	wheelMem atomic.Int64

	// Workers bounds parallel inflation during ingest (default: CPU count).
	Workers int
	// Limits applied to every wheel.
	MaxMembers     int   // default 50,000
	MaxUnpacked    int64 // default 64 GiB
	MaxMemberRatio int64 // inflate ratio above which a member > 1 MiB is a zip bomb (default 1000)
}

// Open opens (creating if needed) the store under home. A home on a
// network file system is ErrNetworkFS unless FORGE_ALLOW_NETWORK_FS=1
// (see checkHomeFS).
func Open(home string, opts ...Option) (*Store, error) {
	o := defaultOpenOptions()
	for _, opt := range opts {
		opt(&o)
	}
	for _, d := range []string{home, filepath.Join(home, "store", "entries"), filepath.Join(home, "store", ".staging"), filepath.Join(home, "locks")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("store %s: %w", home, err)
		}
	}
	journal, err := checkHomeFS(home, o)
	if err != nil {
		return nil, err
	}
	db, err := openDB(filepath.Join(home, "forge.db"), journal)
	if err != nil {
		return nil, err
	}
	return &Store{
		home: home, db: db,
		Workers: runtime.NumCPU(), MaxMembers: 50000, MaxUnpacked: 64 << 30, MaxMemberRatio: 1000,
	}, nil
}

// Close closes the database.
func (s *Store) Close() error { return closeDB(s.db, filepath.Join(s.home, "forge.db")) }

// Home is the forge home directory.
func (s *Store) Home() string { return s.home }

// DB exposes the metadata database to the packages that own other tables of
// it (environments, manifests).
func (s *Store) DB() *sql.DB { return s.db }

// EntriesDir holds one directory per entry.
func (s *Store) EntriesDir() string { return filepath.Join(s.home, "store", "entries") }

// StagingDir holds in-progress ingests.
func (s *Store) StagingDir() string { return filepath.Join(s.home, "store", ".staging") }

// EntryDir is where the entry with this digest lives.
func (s *Store) EntryDir(sha string) string { return filepath.Join(s.EntriesDir(), sha) }

// Entry is one unpacked wheel.
type Entry struct {
	SHA256      string          `json:"sha256"`
	Name        string          `json:"name"`
	NormName    string          `json:"norm_name"`
	Version     string          `json:"version"`
	Build       string          `json:"build,omitempty"`
	Filename    string          `json:"filename"`
	Tags        []string        `json:"tags"`
	WheelSize   int64           `json:"wheel_size"`
	Size        int64           `json:"size"`
	Files       int             `json:"files"`
	Refs        int             `json:"refs"`
	Fingerprint abi.Fingerprint `json:"fingerprint"`
}

const entryCols = `sha256, name, norm_name, version, build, filename, tags, wheel_size, size, files, refs, fingerprint`

type scanner interface{ Scan(...any) error }

func scanEntry(r scanner) (*Entry, error) {
	var e Entry
	var tags, fp string
	if err := r.Scan(&e.SHA256, &e.Name, &e.NormName, &e.Version, &e.Build, &e.Filename, &tags, &e.WheelSize, &e.Size, &e.Files, &e.Refs, &fp); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(tags), &e.Tags); err != nil {
		return nil, fmt.Errorf("entry %s: tags: %w", e.SHA256, ErrCorrupt)
	}
	if err := json.Unmarshal([]byte(fp), &e.Fingerprint); err != nil {
		return nil, fmt.Errorf("entry %s: fingerprint: %w", e.SHA256, ErrCorrupt)
	}
	return &e, nil
}

// Get returns the entry with this digest.
func (s *Store) Get(ctx context.Context, sha string) (*Entry, error) {
	row, err := s.queryRow(ctx, `SELECT `+entryCols+` FROM entries WHERE sha256 = ?`, sha)
	if err != nil {
		return nil, err
	}
	e, err := scanEntry(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("entry %s: %w", sha, ErrNotFound)
	}
	return e, err
}

// Find returns the entries of a project, all versions when version is "",
// newest ingest first.
func (s *Store) Find(ctx context.Context, name, version string) ([]*Entry, error) {
	q := `SELECT ` + entryCols + ` FROM entries WHERE norm_name = ?`
	args := []any{wheel.NormalizeName(name)}
	if version != "" {
		q += ` AND (version = ? OR version LIKE ?)`
		args = append(args, version, version+"+%")
	}
	return s.queryEntries(ctx, q+` ORDER BY created_at DESC, sha256`, args...)
}

// List returns every entry.
func (s *Store) List(ctx context.Context) ([]*Entry, error) {
	return s.queryEntries(ctx, `SELECT `+entryCols+` FROM entries ORDER BY norm_name, version, sha256`)
}

// queryEntries runs a query selecting entryCols and scans every row.
func (s *Store) queryEntries(ctx context.Context, query string, args ...any) ([]*Entry, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// OpenReadOnly opens the metadata of an existing forge home for reading
// only, for shell completion: it creates nothing (no directory, no database,
// no migration) and fails with ErrNotFound when home holds no forge.db, so
// that pressing TAB never makes a forge home. Writing through the returned
// Store fails.
func OpenReadOnly(home string) (*Store, error) {
	path := filepath.Join(home, "forge.db")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("store %s: %w", home, ErrNotFound)
	}
	base, err := sqlite.NewConnector("file:" + path + "?mode=ro&_pragma=busy_timeout(2000)&_pragma=query_only(1)")
	if err != nil {
		return nil, err
	}
	return &Store{home: home, db: sql.OpenDB(base)}, nil
}
