package workspace

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenHome: a new or empty directory becomes a forge home, an existing
// home opens, and a directory holding other things (a mistyped --home) is
// refused, naming it, with nothing written into it.
func TestOpenHome(t *testing.T) {
	existing := filepath.Join(t.TempDir(), "home")
	ws, err := Open(existing)
	if err != nil {
		t.Fatal(err)
	}
	ws.Close()
	for _, tc := range []struct {
		name   string
		setup  func(t *testing.T) string
		refuse bool
	}{
		{"new", func(t *testing.T) string { return filepath.Join(t.TempDir(), "new", "home") }, false},
		{"empty", func(t *testing.T) string { return t.TempDir() }, false},
		{"existing home", func(t *testing.T) string { return existing }, false},
		{"only forge.db", func(t *testing.T) string { return withEntry(t, "forge.db", false) }, false},
		{"only envs", func(t *testing.T) string { return withEntry(t, "envs", true) }, false},
		{"only store", func(t *testing.T) string { return withEntry(t, "store", true) }, false},
		{"only probe's cache (forge probe before any other command)", func(t *testing.T) string { return withEntry(t, "cache", true) }, false},
		{"user files", func(t *testing.T) string { return withEntry(t, "notes.txt", false) }, true},
		{"user directory", func(t *testing.T) string { return withEntry(t, "projects", true) }, true},
		{"a file", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "file")
			if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := tc.setup(t)
			ws, err := Open(home)
			if !tc.refuse {
				if err != nil {
					t.Fatalf("Open(%s): %v", home, err)
				}
				ws.Close()
				if _, err := os.Stat(filepath.Join(home, "forge.db")); err != nil {
					t.Errorf("no forge.db after Open: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), home) || !strings.Contains(err.Error(), "--home") {
				t.Fatalf("Open(%s) = %v, want a usage error naming it and --home", home, err)
			}
			for _, m := range homeMarkers {
				if _, err := os.Lstat(filepath.Join(home, m)); err == nil {
					t.Errorf("refused home has %s", m)
				}
			}
		})
	}
}

func withEntry(t *testing.T, name string, dir bool) string {
	home := t.TempDir()
	p := filepath.Join(home, name)
	var err error
	if dir {
		err = os.Mkdir(p, 0o755)
	} else {
		err = os.WriteFile(p, nil, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
	return home
}

// TestOpenNewHomeConcurrently: processes (here goroutines) that open the
// same new, empty home at once all succeed; the one that looks while
// another is laying the home out must not take it for a stranger's
// directory.
func TestOpenNewHomeConcurrently(t *testing.T) {
	const trials, openers = 30, 4
	failed := 0
	for i := 0; i < trials; i++ {
		home := t.TempDir()
		errs := make(chan error, openers)
		for j := 0; j < openers; j++ {
			go func() {
				ws, err := Open(home)
				if err == nil {
					ws.Close()
				}
				errs <- err
			}()
		}
		for j := 0; j < openers; j++ {
			if err := <-errs; err != nil {
				failed++
				t.Logf("trial %d: %v", i, err)
			}
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d opens of a new home failed", failed, trials*openers)
	}
}
