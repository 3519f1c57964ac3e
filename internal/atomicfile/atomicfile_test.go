package atomicfile_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/forge-ml/forge/internal/atomicfile"
)

func TestWrite(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    atomicfile.Durability
		perm fs.FileMode
	}{
		{"best effort", atomicfile.BestEffort, 0o644},
		{"durable", atomicfile.Durable, 0o600},
		{"executable", atomicfile.BestEffort, 0o755},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f")
			if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := atomicfile.Write(path, []byte("new"), tc.perm, tc.d); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil || string(b) != "new" {
				t.Errorf("content %q (%v), want %q", b, err, "new")
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != tc.perm {
				t.Errorf("mode %v (%v), want %v", fi.Mode().Perm(), err, tc.perm)
			}
			assertOnly(t, dir, "f")
		})
	}
}

// TestWriteFailureKeepsOld: a rename that fails (the final name is a
// non-empty directory) leaves the old and no temporary file.
func TestWriteFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "d")
	if err := os.MkdirAll(filepath.Join(path, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := atomicfile.Write(path, []byte("new"), 0o644, atomicfile.Durable)
	var le *os.LinkError
	if !errors.As(err, &le) {
		t.Fatalf("Write over a directory: %v, want a rename error", err)
	}
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		t.Errorf("the directory is gone: %v", err)
	}
	assertOnly(t, dir, "d")
}

func TestWriteNoDirectory(t *testing.T) {
	err := atomicfile.Write(filepath.Join(t.TempDir(), "missing", "f"), nil, 0o644, atomicfile.BestEffort)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Write into a missing directory: %v, want fs.ErrNotExist", err)
	}
}

func assertOnly(t *testing.T, dir string, want ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
		if strings.HasPrefix(e.Name(), atomicfile.TempPrefix) {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("directory holds %v, want %v", got, want)
	}
}
