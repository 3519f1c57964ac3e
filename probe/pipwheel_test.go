package probe

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestBundledPip: the pip wheel is found under the interpreter's base
// prefix (platlibdir or lib) without running it, the highest version wins,
// and an interpreter without one is ErrNoBundledPip.
func TestBundledPip(t *testing.T) {
	tests := []struct {
		name   string
		lib    string   // directory under the prefix holding pythonX.Y
		wheels []string // in ensurepip/_bundled
		want   string   // "" = ErrNoBundledPip
	}{
		{"one wheel", "lib", []string{"pip-23.2.1-py3-none-any.whl"}, "pip-23.2.1-py3-none-any.whl"},
		{"highest version, not the last name", "lib", []string{"pip-9.0.1-py2.py3-none-any.whl", "pip-23.2.1-py3-none-any.whl", "pip-24.0-py3-none-any.whl"}, "pip-24.0-py3-none-any.whl"},
		{"platlibdir lib64", "lib64", []string{"pip-24.2-py3-none-any.whl", "setuptools-65.5.0-py3-none-any.whl"}, "pip-24.2-py3-none-any.whl"},
		{"only setuptools", "lib", []string{"setuptools-65.5.0-py3-none-any.whl"}, ""},
	}
	if ws, _ := filepath.Glob("/usr/share/python-wheels/pip-*.whl"); len(ws) > 0 {
		tests = tests[:len(tests)-1] // Debian's wheels would be found instead
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prefix := t.TempDir()
			dir := filepath.Join(prefix, tc.lib, "python3.12", "ensurepip", "_bundled")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.wheels {
				if err := os.WriteFile(filepath.Join(dir, w), []byte("PK"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// No interpreter to run: only the paths may find it.
			py := &Interp{Executable: filepath.Join(prefix, "bin", "no-python"), BasePrefix: prefix, PlatLibDir: tc.lib, Major: 3, Minor: 12, Version: "3.12.1"}
			got, err := BundledPip(py)
			if tc.want == "" {
				if !errors.Is(err, ErrNoBundledPip) {
					t.Errorf("BundledPip = %q, %v; want ErrNoBundledPip", got, err)
				}
				return
			}
			if err != nil || got != filepath.Join(dir, tc.want) {
				t.Errorf("BundledPip = %q, %v; want %s", got, err, tc.want)
			}
		})
	}
}
