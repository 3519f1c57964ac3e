package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite" // the "sqlite" driver, to touch forge.db as another program would

	"github.com/forge-ml/forge/store"
)

// walSize is the size of home's write-ahead log, -1 when there is none.
func walSize(t *testing.T, home string) int64 {
	t.Helper()
	fi, err := os.Stat(filepath.Join(home, "forge.db-wal"))
	if os.IsNotExist(err) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func addEnvs(t *testing.T, s *store.Store, n int, settingSize int) {
	t.Helper()
	for i := range n {
		row := store.EnvRow{Name: fmt.Sprintf("env%03d", i), Path: "/envs/" + fmt.Sprint(i), Python: "/usr/bin/python3", PythonVersion: "3.12.1",
			Settings: map[string]string{"note": strings.Repeat("x", settingSize)}}
		if err := s.AddEnv(context.Background(), row); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCloseLeavesShortLog: a forge process does not checkpoint a short log
// when it closes (that cost create most of its I/O), and empties a long one,
// so the next process never reads much of it back. Both keep every commit.
func TestCloseLeavesShortLog(t *testing.T) {
	tests := []struct {
		name        string
		envs        int
		settingSize int
		wantKept    bool // log left with frames in it, else emptied
	}{
		{"one small commit keeps the log", 1, 10, true},
		{"a long log is checkpointed and emptied", 100, 4000, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			s, err := store.Open(home)
			if err != nil {
				t.Fatal(err)
			}
			addEnvs(t, s, tc.envs, tc.settingSize)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			size := walSize(t, home)
			if tc.wantKept && size <= 32 {
				t.Errorf("log after close: %d bytes, want frames kept (the driver's connection internals may have moved: see setNoCheckpointOnClose)", size)
			}
			// Emptied, then one frame written so that its header is synced
			// by this process rather than by the next.
			if oneFrame := int64(32 + 24 + 4096); !tc.wantKept && size != oneFrame {
				t.Errorf("log after close: %d bytes, want it emptied to one frame (%d bytes)", size, oneFrame)
			}
			s, err = store.Open(home)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			envs, err := s.ListEnvs(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(envs) != tc.envs {
				t.Errorf("reopened: %d environments, want %d", len(envs), tc.envs)
			}
		})
	}
}

// TestOpenDoesNotWaitForWriter: opening an up-to-date store reads the schema
// version without taking the write lock, so it does not queue behind another
// process's write transaction (an install linking packages).
func TestOpenDoesNotWaitForWriter(t *testing.T) {
	home := t.TempDir()
	s, err := store.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	other, err := sql.Open("sqlite", "file:"+filepath.Join(home, "forge.db")+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx := context.Background()
	c, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer c.ExecContext(ctx, "ROLLBACK")
	// Were Open to take the write lock it would fail after busy_timeout (30 s).
	s, err = store.Open(home)
	if err != nil {
		t.Fatalf("open while another connection writes: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	home := t.TempDir()
	s, err := store.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(home, "forge.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err = store.Open(home)
	if err == nil {
		s.Close()
		t.Fatal("opened a database with schema version 99")
	}
	if !strings.Contains(err.Error(), "schema version 99 is newer") {
		t.Errorf("error %q does not name the schema version", err)
	}
}

// TestMigrateFromVersion1 opens a database of the first schema, with an
// environment in it, as an older forge left it.
func TestMigrateFromVersion1(t *testing.T) {
	home := t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(home, "forge.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{store.Migrations[0], "PRAGMA user_version = 1",
		`INSERT INTO envs (name, path, python, python_version, created_at) VALUES ('old', '/old', '/py', '3.12.1', 0)`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := store.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	before, err := s.ABIState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := s.GetEnv(ctx, "old"); err != nil || e.Path != "/old" {
		t.Fatalf("environment after the migration: %+v, %v", e, err)
	}
	if len(before.Instance) != 32 || before.Entries != 0 || len(before.Layers) != 0 {
		t.Errorf("state after the migration: %+v", before)
	}
	if _, err := s.DB().Exec(`INSERT INTO manifests (layer, norm_name, entry, link_mode, state, requested, created_at)
		VALUES ('old', 'x', 'none', 'symlink', 'linked', 1, 0)`); err == nil {
		t.Error("a manifest row naming no entry went in: foreign keys are off")
	}
	var v int
	if err := s.DB().QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != len(store.Migrations) {
		t.Errorf("user_version %d (%v), want %d", v, err, len(store.Migrations))
	}
}

// TestUnreferencedUsesIndex: listing what gc would collect reads the
// partial index of unreferenced entries, in its order, not every entry.
func TestUnreferencedUsesIndex(t *testing.T) {
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.DB().Query("EXPLAIN QUERY PLAN " + store.UnreferencedQuery)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	text := strings.Join(plan, "; ")
	if !strings.Contains(text, "SCAN e USING INDEX entries_unreferenced") || strings.Contains(text, "TEMP B-TREE") {
		t.Errorf("plan: %s", text)
	}
}
