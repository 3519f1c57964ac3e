package store

import (
	"context"
	"database/sql"
	"fmt"

	_ "modernc.org/sqlite" // registers the "sqlite" driver (pure Go)
)

// migrations are applied in order; the index+1 is the schema version stored
// in PRAGMA user_version. Never edit a shipped migration: append a new one.
var migrations = []string{
	// 1: entries, environments, manifests, link ownership, wheel file identities.
	`
CREATE TABLE entries (
	sha256      TEXT PRIMARY KEY,
	name        TEXT NOT NULL,
	norm_name   TEXT NOT NULL,
	version     TEXT NOT NULL,
	build       TEXT NOT NULL DEFAULT '',
	filename    TEXT NOT NULL,
	tags        TEXT NOT NULL,          -- JSON list of expanded tags
	wheel_size  INTEGER NOT NULL,
	size        INTEGER NOT NULL,       -- unpacked bytes
	files       INTEGER NOT NULL,
	fingerprint TEXT NOT NULL,          -- JSON abi.Fingerprint
	refs        INTEGER NOT NULL DEFAULT 0,
	created_at  INTEGER NOT NULL
);
CREATE INDEX entries_by_name ON entries(norm_name, version);

CREATE TABLE envs (
	name           TEXT PRIMARY KEY,
	path           TEXT NOT NULL,
	parent         TEXT REFERENCES envs(name),
	python         TEXT NOT NULL,       -- interpreter executable
	python_version TEXT NOT NULL,       -- "3.12.1"
	settings       TEXT NOT NULL DEFAULT '{}',
	created_at     INTEGER NOT NULL
);

-- A manifest row: entry linked into a layer. layer is an environment name, or
-- "GLOBAL/X.Y" for the implicit global layer of Python X.Y.
CREATE TABLE manifests (
	layer      TEXT NOT NULL,
	norm_name  TEXT NOT NULL,
	entry      TEXT NOT NULL REFERENCES entries(sha256),
	link_mode  TEXT NOT NULL,
	state      TEXT NOT NULL,           -- 'linking' until every link exists, then 'linked'
	requested  INTEGER NOT NULL DEFAULT 1,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (layer, norm_name)
);
CREATE INDEX manifests_by_entry ON manifests(entry);

-- Which paths of a layer an entry owns (relative to the layer's prefix).
-- A path may be owned by several entries when their files are identical.
CREATE TABLE links (
	layer TEXT NOT NULL,
	path  TEXT NOT NULL,
	entry TEXT NOT NULL,
	kind  TEXT NOT NULL,                -- 'link' (into the store) or 'file' (written by forge)
	PRIMARY KEY (layer, path, entry)
);
CREATE INDEX links_by_entry ON links(layer, entry);

-- Wheel files already hashed, keyed on their identity (see README "warm installs").
CREATE TABLE wheel_files (
	path     TEXT PRIMARY KEY,
	dev      INTEGER NOT NULL,
	inode    INTEGER NOT NULL,
	size     INTEGER NOT NULL,
	mtime_ns INTEGER NOT NULL,
	ctime_ns INTEGER NOT NULL,
	sha256   TEXT NOT NULL
);
`,
}

func openDB(path string) (*sql.DB, error) {
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(30000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	if err := migrate(context.Background(), db); err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	return db, nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this forge (%d): upgrade forge", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1)); err != nil {
			return err
		}
	}
	return tx.Commit()
}
