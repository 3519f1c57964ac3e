package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"

	"modernc.org/libc"
	"modernc.org/sqlite" // the "sqlite" driver (pure Go)
	sqlite3 "modernc.org/sqlite/lib"
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
	// 2: counters of the changes that can alter an ABI re-check (forge
	// doctor --abi), kept by triggers so that no write path can miss them,
	// and a random identity of this database. See ABIState.
	`
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value BLOB NOT NULL                -- no type affinity: text stays text, integers integers
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('instance', lower(hex(randomblob(16)))), ('abi_entries', 0);

-- Per layer, a counter of changes to its manifest rows in state 'linked'
-- (rows still 'linking' are not checked). A row is never deleted: a layer
-- removed and made again counts on from where it was.
CREATE TABLE abi_layers (
	layer TEXT PRIMARY KEY,
	gen   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER abi_layers_insert AFTER INSERT ON manifests WHEN new.state = 'linked'
BEGIN INSERT INTO abi_layers VALUES (new.layer, 1) ON CONFLICT (layer) DO UPDATE SET gen = gen + 1; END;
CREATE TRIGGER abi_layers_update AFTER UPDATE ON manifests WHEN old.state = 'linked' OR new.state = 'linked'
BEGIN INSERT INTO abi_layers VALUES (new.layer, 1) ON CONFLICT (layer) DO UPDATE SET gen = gen + 1; END;
-- (Apart, as no forge statement moves a row: one upsert per row of an
-- install's state change, not two.)
CREATE TRIGGER abi_layers_move AFTER UPDATE OF layer ON manifests WHEN old.layer IS NOT new.layer AND old.state = 'linked'
BEGIN INSERT INTO abi_layers VALUES (old.layer, 1) ON CONFLICT (layer) DO UPDATE SET gen = gen + 1; END;
CREATE TRIGGER abi_layers_delete AFTER DELETE ON manifests WHEN old.state = 'linked'
BEGIN INSERT INTO abi_layers VALUES (old.layer, 1) ON CONFLICT (layer) DO UPDATE SET gen = gen + 1; END;

-- Entries are immutable but for their reference count: a change to what a
-- check reads of one, or the removal of one a manifest row names (which
-- the foreign key forbids), counts for every layer.
CREATE TRIGGER abi_entries_update AFTER UPDATE OF sha256, name, norm_name, version, tags, fingerprint ON entries
BEGIN UPDATE meta SET value = value + 1 WHERE key = 'abi_entries'; END;
CREATE TRIGGER abi_entries_delete AFTER DELETE ON entries WHEN EXISTS (SELECT 1 FROM manifests WHERE entry = old.sha256)
BEGIN UPDATE meta SET value = value + 1 WHERE key = 'abi_entries'; END;
`,
	// 3: the entries no manifest row counts, in the order forge gc lists
	// them, so that listing them does not read every entry of the store.
	`
CREATE INDEX entries_unreferenced ON entries(norm_name, version, sha256) WHERE refs = 0;
`,
	// 4: snapshots of environments' own layers (restore points that keep
	// their entries from gc), the rollback in progress per environment,
	// and each environment's append-only history of operations. All go
	// with their environment's row (forge env rm, doctor's forget_env).
	`
CREATE TABLE snapshots (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	env        TEXT NOT NULL REFERENCES envs(name) ON DELETE CASCADE,
	name       TEXT NOT NULL,
	auto       INTEGER NOT NULL DEFAULT 0,
	settings   TEXT NOT NULL DEFAULT '{}',  -- JSON object, the environment's settings
	created_at INTEGER NOT NULL,
	UNIQUE (env, name)
);
-- A snapshot's packages: what its layer's manifest rows held. No foreign
-- key to entries: gc keeps a named entry (see Unreferenced), and a row
-- that outlives its entry (doctor dropped it) makes rollback say so.
CREATE TABLE snapshot_entries (
	snapshot  INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
	norm_name TEXT NOT NULL,
	entry     TEXT NOT NULL,
	name      TEXT NOT NULL,
	version   TEXT NOT NULL,
	link_mode TEXT NOT NULL,
	requested INTEGER NOT NULL,
	PRIMARY KEY (snapshot, norm_name)
);
CREATE INDEX snapshot_entries_by_entry ON snapshot_entries(entry);

-- A rollback that changed files and has not finished: doctor --fix finishes it.
CREATE TABLE rollbacks (
	env        TEXT PRIMARY KEY REFERENCES envs(name) ON DELETE CASCADE,
	snapshot   INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
	started_at INTEGER NOT NULL
);

CREATE TABLE history (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	env           TEXT NOT NULL REFERENCES envs(name) ON DELETE CASCADE,
	started_at    INTEGER NOT NULL,
	finished_at   INTEGER,              -- NULL while running, or forever if it did not finish
	forge_version TEXT NOT NULL,
	command       TEXT NOT NULL,
	pid           INTEGER NOT NULL,
	status        TEXT NOT NULL,        -- 'running', 'ok' or 'failed'
	exit_code     INTEGER,
	error         TEXT NOT NULL DEFAULT '',
	changes       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX history_by_env ON history(env, id);
CREATE TRIGGER history_append_only BEFORE UPDATE ON history WHEN old.finished_at IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'history rows are append-only'); END;
`,
}

// SQLite's settings for forge.db. WAL with synchronous=NORMAL: a commit
// survives a killed process at any instant; a power loss may roll back the
// commits since the last checkpoint, never corrupt the database.
const dbParams = "?_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"

// keptWALFrames bounds the write-ahead log a closing forge leaves behind.
//
// By default the last connection to close a WAL database checkpoints it
// (fsync of the log, copy, fsync of the database) and deletes the -wal and
// -shm files, which the next process creates again (and, on its first
// commit, fsyncs the new log's header and its directory). forge is a
// short-lived process: for a small command such as create that was most of
// its I/O (measured with strace -c -f: forge create --without-pip in a warm
// home makes 4 fsyncs with the checkpoint and none without). So
// connections do not checkpoint when they close, which leaves
// the database as a killed process would, the state WAL mode is built to
// recover from. The cost moves to the next process, which reads the whole
// log to rebuild its index of it (the first connection always does): Close
// therefore checkpoints and empties a log longer than this.
const keptWALFrames = 64

// walFrameSize is the size of one log frame for forge.db's 4 KiB pages;
// walHeaderSize the size of the log's header.
const (
	walFrameSize  = 24 + 4096
	walHeaderSize = 32
)

// openDB opens forge.db with journal mode "WAL" (dbParams), or "DELETE"
// (the rollback journal, with synchronous=FULL) on a network file system.
func openDB(path, journal string) (*sql.DB, error) {
	params := dbParams
	if journal == "DELETE" {
		params = strings.NewReplacer("journal_mode(WAL)", "journal_mode(DELETE)", "synchronous(NORMAL)", "synchronous(FULL)").Replace(params)
	}
	base, err := sqlite.NewConnector("file:" + path + params)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector{base})
	if err := migrate(context.Background(), db); err != nil {
		db.Close()
		if unreadableDB(err) {
			return nil, fmt.Errorf("database %s: %w; forge will not use it: move it aside (mv %s %s.bad) and run 'forge doctor --rebuild' to make its records again from the store and the environments", path, err, path, path)
		}
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	return db, nil
}

// unreadableDB reports whether SQLite found the file not to be a database
// (SQLITE_NOTADB: garbage) or damaged (SQLITE_CORRUPT: truncated).
func unreadableDB(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	code := se.Code() & 0xff // the primary result code
	return code == sqlite3.SQLITE_NOTADB || code == sqlite3.SQLITE_CORRUPT
}

// closeDB closes the database at path, first checkpointing and emptying its
// log when it is longer than keptWALFrames. The checkpoint does not wait:
// when another process is reading or writing, it is left to a later Close.
//
// An emptied log starts again with a header that its first writer must
// fsync (with the directory): rewriting the schema version, a one-frame
// transaction, leaves that cost with the long command that filled the log
// rather than with the next one, typically small (a create after an install).
func closeDB(db *sql.DB, path string) error {
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > walHeaderSize+keptWALFrames*walFrameSize {
		ctx := context.Background()
		if c, err := db.Conn(ctx); err == nil {
			if _, err := c.ExecContext(ctx, "PRAGMA busy_timeout = 0"); err == nil {
				var busy, frames, done, version int
				err := c.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &frames, &done)
				if err == nil && busy == 0 && c.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version) == nil {
					c.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", version))
				}
			}
			c.Close()
		}
	}
	return db.Close()
}

// connector opens forge.db connections that do not checkpoint the log when
// they close (see keptWALFrames).
type connector struct{ driver.Connector }

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	// Without the setting a connection still works, only closes as before.
	_ = setNoCheckpointOnClose(conn)
	return conn, nil
}

// setNoCheckpointOnClose sets SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE on a
// modernc.org/sqlite connection. The driver does not export
// sqlite3_db_config, so this reads its connection's handle and thread
// state; TestNoCheckpointOnClose fails if a driver upgrade moves them.
func setNoCheckpointOnClose(conn driver.Conn) error {
	v := reflect.ValueOf(conn)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return errNoDBConfig
	}
	db, tls := v.Elem().FieldByName("db"), v.Elem().FieldByName("tls")
	if !db.IsValid() || db.Kind() != reflect.Uintptr || db.Uint() == 0 ||
		!tls.IsValid() || tls.Type() != reflect.TypeFor[*libc.TLS]() || tls.IsNil() {
		return errNoDBConfig
	}
	t := (*libc.TLS)(tls.UnsafePointer())
	// Variadic arguments (int on, int *result): one 8-byte slot each.
	va := t.Alloc(16)
	defer t.Free(16)
	if rc := sqlite3.Xsqlite3_db_config(t, uintptr(db.Uint()), sqlite3.SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, libc.VaList(va, int32(1), uintptr(0))); rc != sqlite3.SQLITE_OK {
		return fmt.Errorf("sqlite3_db_config(NO_CKPT_ON_CLOSE): code %d", rc)
	}
	return nil
}

var errNoDBConfig = errors.New("sqlite driver: connection handle not found")

// migrate brings the schema to the latest version. The common case, an
// up-to-date database, is one read outside any transaction; only a database
// that needs a migration takes the write lock (and checks again under it).
func migrate(ctx context.Context, db *sql.DB) error {
	// A read of a database another process is creating or switching to
	// WAL can fail with SQLITE_BUSY at once, without the busy handler: the
	// transaction below waits for its lock and reads again.
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err == nil && v == len(migrations) {
		return nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
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

// queryStrings returns the single text column of a query's rows, in order.
func queryStrings(ctx context.Context, db *sql.DB, query string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
