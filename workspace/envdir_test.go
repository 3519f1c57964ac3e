package workspace

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestRemoveEnvDirGuard(t *testing.T) {
	ws, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	stranger := t.TempDir()
	keep := filepath.Join(stranger, "precious.txt")
	os.WriteFile(keep, []byte("x"), 0o644)
	if _, err := ws.removeEnvDir(stranger); err == nil {
		t.Error("removed a directory that is neither a venv nor under envs/")
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("file deleted: %v", err)
	}
	ro := filepath.Join(ws.EnvsDir(), "ro")
	os.MkdirAll(filepath.Join(ro, "lib", "sub"), 0o755)
	os.WriteFile(filepath.Join(ro, "lib", "sub", "f"), []byte("x"), 0o444)
	os.Chmod(filepath.Join(ro, "lib", "sub"), 0o555)
	os.Chmod(filepath.Join(ro, "lib"), 0o555)
	if _, err := ws.removeEnvDir(ro); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(ro); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("read-only tree left: %v", err)
	}
}
