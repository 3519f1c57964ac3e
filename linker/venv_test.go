package linker

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/forge-ml/forge/probe"
)

// realPython is pyenv's interpreter X.Y (PATH's may be a shim for another).
func realPython(t *testing.T, xy string) *probe.Interp {
	t.Helper()
	root := os.Getenv("PYENV_ROOT")
	if root == "" {
		home, _ := os.UserHomeDir()
		root = filepath.Join(home, ".pyenv")
	}
	path := ""
	if m, _ := filepath.Glob(filepath.Join(root, "versions", xy+".*", "bin", "python"+xy)); len(m) > 0 {
		path = m[len(m)-1]
	} else if p, err := probe.FindPython(xy); err == nil {
		path = p
	} else {
		t.Skipf("python %s not installed: %v", xy, err)
	}
	py, err := probe.Interpreter(path)
	if err != nil {
		t.Fatalf("interpreter %s: %v", path, err)
	}
	return py
}

// TestCreateVenvPythonAccepts: what CreateVenv writes, Python takes for a
// virtual environment layered on a parent and GLOBAL, for every interpreter
// installed here; and it appears under its final name in one piece.
func TestCreateVenvPythonAccepts(t *testing.T) {
	for _, xy := range []string{"3.8", "3.9", "3.10", "3.11", "3.12", "3.13"} {
		t.Run(xy, func(t *testing.T) {
			py := realPython(t, xy)
			dir := t.TempDir()
			parent := Venv{Root: filepath.Join(dir, "envs", "base"), Python: py}
			global := Venv{Root: filepath.Join(dir, "global", xy), Python: py}
			for _, d := range []string{parent.SitePackages(), filepath.Join(parent.SitePackages(), "rel"), global.SitePackages()} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(parent.SitePackages(), "extra.pth"), []byte("rel\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			root := filepath.Join(dir, "envs", "app")
			if err := CreateVenv(root, py, "forge create app", []Venv{parent, global}, false); err != nil {
				t.Fatal(err)
			}
			env := Venv{Root: root, Python: py}

			lib := "lib/python" + xy
			want := []string{"d bin", "d include", "d lib", "d " + lib, "d " + lib + "/site-packages",
				"f bin/activate", "f bin/activate.fish", "f pyvenv.cfg",
				"f " + lib + "/site-packages/" + layersPth, "f " + lib + "/site-packages/" + pycachePth,
				"f " + lib + "/site-packages/" + mirrorPth + "00_extra.pth",
				"l bin/python", "l bin/python3", "l bin/python" + xy}
			if py.Is64Bit && py.PlatLibDir == "lib" {
				want = append(want, "l lib64")
			}
			got := tree(t, root)
			for _, w := range want {
				if !slices.Contains(got, w) {
					t.Errorf("missing %s in %v", w, got)
				}
			}
			for _, g := range got {
				if !slices.Contains(want, g) && !strings.HasPrefix(g, "l bin/python") {
					t.Errorf("unexpected %s", g)
				}
			}
			if left, _ := filepath.Glob(filepath.Join(dir, "envs", ".app.creating-*")); len(left) > 0 {
				t.Errorf("staging directories left: %v", left)
			}

			out, err := exec.Command(env.Interpreter(), "-c",
				"import json, sys; print(json.dumps({'prefix': sys.prefix, 'base': sys.base_prefix, 'path': sys.path, 'pycache': sys.pycache_prefix}))").Output()
			if err != nil {
				t.Fatalf("%s: %v", env.Interpreter(), err)
			}
			var facts struct {
				Prefix, Base, Pycache string
				Path                  []string
			}
			if err := json.Unmarshal(out, &facts); err != nil {
				t.Fatalf("%s: %v", out, err)
			}
			if facts.Prefix != root || facts.Base == root {
				t.Errorf("sys.prefix %s, sys.base_prefix %s: want a venv at %s", facts.Prefix, facts.Base, root)
			}
			if want := filepath.Join(root, "var", "pycache"); facts.Pycache != want {
				t.Errorf("sys.pycache_prefix %q, want %q", facts.Pycache, want)
			}
			// Own site-packages, then the parent (and what its .pth adds), then GLOBAL.
			order := []string{env.SitePackages(), parent.SitePackages(), global.SitePackages(), filepath.Join(parent.SitePackages(), "rel")}
			at := -1
			for _, p := range order[:3] {
				i := slices.Index(facts.Path, p)
				if i <= at {
					t.Errorf("sys.path %v: %s missing or out of order", facts.Path, p)
				}
				at = i
			}
			if !slices.Contains(facts.Path, order[3]) {
				t.Errorf("sys.path %v: the parent's .pth line %s is missing", facts.Path, order[3])
			}
		})
	}
}

func TestCreateVenvTargets(t *testing.T) {
	py := &probe.Interp{Major: 3, Minor: 12, Version: "3.12.1", Real: "/usr/bin/python3.12", Is64Bit: true, PlatLibDir: "lib"}
	tests := []struct {
		name    string
		setup   func(t *testing.T, root string)
		wantErr error
	}{
		{"parent directory missing", func(t *testing.T, root string) {}, nil},
		{"root exists", func(t *testing.T, root string) {
			if err := os.MkdirAll(filepath.Join(root, "keep"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, os.ErrExist},
		{"root is a dangling link", func(t *testing.T, root string) {
			os.MkdirAll(filepath.Dir(root), 0o755)
			if err := os.Symlink("/nonexistent", root); err != nil {
				t.Fatal(err)
			}
		}, os.ErrExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "envs", "new")
			tc.setup(t, root)
			err := CreateVenv(root, py, "forge create new", nil, false)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("CreateVenv: %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				if left, _ := filepath.Glob(filepath.Join(filepath.Dir(root), ".new.creating-*")); len(left) > 0 {
					t.Errorf("staging directories left: %v", left)
				}
				return
			}
			cfg, err := os.ReadFile(filepath.Join(root, "pyvenv.cfg"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(cfg), "home = /usr/bin\n") || !strings.Contains(string(cfg), "command = forge create new\n") {
				t.Errorf("pyvenv.cfg:\n%s", cfg)
			}
			layers, err := os.ReadFile(filepath.Join(root, "lib", "python3.12", "site-packages", layersPth))
			if err != nil || strings.Count(string(layers), "\n") != 1 {
				t.Errorf("%s with no layers: %q %v, want the comment line only", layersPth, layers, err)
			}
		})
	}
}

// TestPipLaunchers: pip's launchers are named for the Python that runs
// them, whatever the wheel's entry_points.txt says (it names the Python
// that built the wheel), as pip's own installer names them.
func TestPipLaunchers(t *testing.T) {
	ep := func(name string) entryPoint { return entryPoint{name, "pip._internal.cli.main", "main"} }
	tests := []struct {
		name         string
		in           []string
		major, minor int
		want         []string
	}{
		{"3.10's wheel names pip3.9", []string{"pip", "pip3", "pip3.9"}, 3, 10, []string{"pip", "pip3", "pip3.10"}},
		{"3.12's wheel names pip3.11", []string{"pip", "pip3", "pip3.11"}, 3, 12, []string{"pip", "pip3", "pip3.12"}},
		{"3.13's wheel names no version", []string{"pip", "pip3"}, 3, 13, []string{"pip", "pip3", "pip3.13"}},
		{"other launchers kept", []string{"pip-tool", "pip", "pip3"}, 3, 12, []string{"pip-tool", "pip", "pip3", "pip3.12"}},
		{"no pip launcher: unchanged", []string{"pip3", "pipx"}, 3, 12, []string{"pip3", "pipx"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var in []entryPoint
			for _, n := range tc.in {
				in = append(in, ep(n))
			}
			var got []string
			for _, e := range pipLaunchers(in, tc.major, tc.minor) {
				if e.module != "pip._internal.cli.main" || e.attr != "main" {
					t.Errorf("%s runs %s:%s", e.name, e.module, e.attr)
				}
				got = append(got, e.name)
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("launchers %v, want %v", got, tc.want)
			}
		})
	}
}
