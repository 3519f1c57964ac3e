package probe

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSupported(t *testing.T) {
	tests := []struct {
		version string
		want    bool
	}{
		{"2.7.18", false}, {"3.6.15", false}, {"3.7.16", false},
		{"3.8.0", true}, {"3.10.13", true}, {"3.13.0", true}, {"4.0.0", true},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			x, y, ok := MajorMinor(tt.version)
			if !ok {
				t.Fatalf("MajorMinor(%q) failed", tt.version)
			}
			if got := Supported(x, y); got != tt.want {
				t.Errorf("Supported(%d, %d) = %v, want %v", x, y, got, tt.want)
			}
		})
	}
}

// TestInterpreterNamesOldPython: a Python 2 interpreter rejects the facts
// script's -I with a usage dump; Interpreter names its version instead.
func TestInterpreterNamesOldPython(t *testing.T) {
	exe, err := FindPython("2.7")
	if err != nil {
		t.Skipf("no Python 2.7: %v", err)
	}
	_, err = Interpreter(exe)
	if !errors.Is(err, ErrUnsupportedPython) {
		t.Fatalf("Interpreter(%s) = %v, want ErrUnsupportedPython", exe, err)
	}
	if msg := err.Error(); !strings.Contains(msg, "Python 2.7.") || !strings.Contains(msg, SupportedRange()) || strings.Contains(msg, "usage") {
		t.Errorf("message %q should name 2.7.x and %s, without the usage dump", msg, SupportedRange())
	}
	v, err := Version(exe, 0)
	if err != nil || !strings.HasPrefix(v, "2.7.") {
		t.Errorf("Version = %q, %v", v, err)
	}
}

// TestPythons lists a pyenv root and a PATH made of links to real
// interpreters: each is found once (a PATH entry reaching the same file as
// a pyenv one is not listed again), asked its version, and judged.
func TestPythons(t *testing.T) {
	root, bin := t.TempDir(), t.TempDir()
	want := map[string]bool{} // X.Y -> supported
	for _, xy := range []string{"2.7", "3.7", "3.12"} {
		exe, err := FindPython(xy)
		if err != nil {
			t.Skipf("no Python %s: %v", xy, err)
		}
		dir := filepath.Join(root, "versions", xy+".1", "bin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(exe, filepath.Join(dir, "python"+xy)); err != nil {
			t.Fatal(err)
		}
		want[xy] = xy == "3.12"
	}
	if err := os.Symlink(filepath.Join(root, "versions", "3.12.1", "bin", "python3.12"), filepath.Join(bin, "python3.12")); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PYENV_ROOT": root, "PATH": bin}
	got := Pythons(WithEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }))
	if len(got) != len(want) {
		t.Fatalf("got %d interpreters, want %d: %+v", len(got), len(want), got)
	}
	for i, p := range got {
		if i > 0 && !versionOrdered(got[i-1].XY, p.XY) {
			t.Errorf("%s listed before %s: want newest first", got[i-1].XY, p.XY)
		}
		if p.Source != "pyenv" || !strings.HasPrefix(p.Version, p.XY+".") || p.Supported != want[p.XY] || p.Error != "" {
			t.Errorf("%+v: want pyenv, version %s.*, supported %v", p, p.XY, want[p.XY])
		}
	}
}

// versionOrdered: a is newer than b ("3.12" before "3.7").
func versionOrdered(a, b string) bool {
	ax, ay, _ := MajorMinor(a + ".0")
	bx, by, _ := MajorMinor(b + ".0")
	return ax > bx || (ax == bx && ay > by)
}
