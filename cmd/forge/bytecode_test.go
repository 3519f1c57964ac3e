package main

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/probe"
)

// TestForeignInterpreterBytecode: forge run and forge activate put the
// environment's site-packages (package directories linked into the store)
// on PYTHONPATH for whatever Python runs. An interpreter that does not read
// the environment's _forge_pycache.pth (another version, python -S) must
// still write its bytecode into the environment's own cache, never into
// store/entries.
func TestForeignInterpreterBytecode(t *testing.T) {
	s, env312 := newEmptyCLI(t)
	// Bytecode writing on, whatever the caller's shell says.
	t.Setenv("PYTHONDONTWRITEBYTECODE", "")
	t.Setenv("PYTHONPYCACHEPREFIX", "")
	demo := fixtures.WriteWheel(t, s.wheels, fixtures.PurePackage("demo", "1.0"))
	for _, args := range [][]string{{"create", "app", "--python", env312}, {"install", "--env", "app", demo}} {
		if out, errOut, code := s.run(args...); code != 0 {
			t.Fatalf("forge %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
	}
	entries := filepath.Join(s.home, "store", "entries")
	before := treeOf(t, entries)
	exports, errOut, code := s.run("activate", "app", "--shell", "bash")
	if code != 0 {
		t.Fatalf("forge activate: exit %d\n%s", code, errOut)
	}
	cache := filepath.Join(s.home, "envs", "app", "var", "pycache")

	type interp struct{ name, exe string }
	interps := []interp{{"the environment's python -S", "python"}}
	for _, xy := range []string{"3.10", "3.11", "3.13"} {
		if exe, err := probe.FindPython(xy); err == nil {
			interps = append(interps, interp{"Python " + xy, exe})
		}
	}
	if len(interps) == 1 {
		t.Log("no Python but 3.12 here: only python -S is checked")
	}
	for _, in := range interps {
		args := []string{in.exe, "-c", "import demo; print(demo.__file__)"}
		if in.exe == "python" {
			args = []string{in.exe, "-S", "-c", "import demo; print(demo.__file__)"}
		}
		t.Run("run/"+in.name, func(t *testing.T) {
			os.RemoveAll(cache)
			out, errOut, code := s.run(append([]string{"run", "--env", "app", "--"}, args...)...)
			if code != 0 {
				t.Fatalf("forge run: exit %d\n%s%s", code, out, errOut)
			}
			checkBytecodeKept(t, entries, before, cache)
		})
		t.Run("activate/"+in.name, func(t *testing.T) {
			os.RemoveAll(cache)
			sh := exports + "\n" + shellWords(args) + "\n"
			out, err := exec.Command("bash", "-c", sh).CombinedOutput()
			if err != nil {
				t.Fatalf("bash: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), filepath.Join("envs", "app")) {
				t.Fatalf("demo was not imported from the environment: %s", out)
			}
			checkBytecodeKept(t, entries, before, cache)
		})
	}
}

// checkBytecodeKept fails unless store/entries is as it was and the
// import did write bytecode, into the environment's cache.
func checkBytecodeKept(t *testing.T, entries, before, cache string) {
	t.Helper()
	if after := treeOf(t, entries); after != before {
		t.Errorf("store/entries changed:\n--- before\n%s--- after\n%s", before, after)
	}
	var pycs []string
	filepath.WalkDir(cache, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".pyc") {
			pycs = append(pycs, p)
		}
		return nil
	})
	if len(pycs) == 0 {
		t.Errorf("no bytecode under %s: was it written at all?", cache)
	}
}

// treeOf lists every path under root with its mode.
func treeOf(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		lines = append(lines, rel+" "+fi.Mode().String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	return b.String()
}

func shellWords(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
