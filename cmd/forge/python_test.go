package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/forge-ml/forge/probe"
)

// TestCreateRefusesOldPython creates environments with real interpreters
// older than forge supports: each is a usage error (exit 2) naming the
// interpreter's own version and the supported range, and leaves no
// environment behind.
func TestCreateRefusesOldPython(t *testing.T) {
	for _, xy := range []string{"2.7", "3.6", "3.7"} {
		t.Run(xy, func(t *testing.T) {
			exe, err := probe.FindPython(xy)
			if err != nil {
				t.Skipf("no Python %s: %v", xy, err)
			}
			home := t.TempDir()
			var out, errOut bytes.Buffer
			code := Main([]string{"--home", home, "create", "old", "--python", exe}, &out, &errOut)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d\n%s%s", code, exitUsage, out.String(), errOut.String())
			}
			msg := errOut.String()
			for _, want := range []string{"Python " + xy + ".", probe.SupportedRange()} {
				if !strings.Contains(msg, want) {
					t.Errorf("message lacks %q: %s", want, msg)
				}
			}
			for _, noise := range []string{"usage:", "Unknown option", ": usage\n", "Traceback"} {
				if strings.Contains(msg, noise) {
					t.Errorf("message carries %q: %s", noise, msg)
				}
			}
			if _, err := os.Stat(filepath.Join(home, "envs", "old")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused create left envs/old behind (%v)", err)
			}
		})
	}
}

// TestPythonList lists the interpreters of a pyenv root made of real
// interpreters, as text and as JSON.
func TestPythonList(t *testing.T) {
	root := t.TempDir()
	want := map[string]bool{} // version XY -> supported
	for _, xy := range []string{"3.7", "3.12"} {
		exe, err := probe.FindPython(xy)
		if err != nil {
			t.Skipf("no Python %s: %v", xy, err)
		}
		bin := filepath.Join(root, "versions", xy+".99", "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(exe, filepath.Join(bin, "python"+xy)); err != nil {
			t.Fatal(err)
		}
		want[xy] = xy != "3.7"
	}
	t.Setenv("PYENV_ROOT", root)
	t.Setenv("PATH", t.TempDir()) // nothing else to find
	var out, errOut bytes.Buffer
	if code := Main([]string{"--home", t.TempDir(), "python", "list", "--json"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var rep pythonListReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, out.String())
	}
	if len(rep.Pythons) != len(want) {
		t.Fatalf("listed %d interpreters, want %d: %+v", len(rep.Pythons), len(want), rep.Pythons)
	}
	for _, p := range rep.Pythons {
		sup, ok := want[p.XY]
		if !ok {
			t.Errorf("unexpected interpreter %+v", p)
			continue
		}
		if !strings.HasPrefix(p.Version, p.XY+".") || p.Supported != sup || p.Source != "pyenv" || !strings.HasPrefix(p.Path, root) {
			t.Errorf("%s: got %+v, want version %s.*, supported %v, source pyenv, under %s", p.XY, p, p.XY, sup, root)
		}
	}
	out.Reset()
	if code := Main([]string{"--home", t.TempDir(), "python", "list"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for xy, sup := range want {
		line := ""
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(l, xy+".") {
				line = l
			}
		}
		if wantSup := fmt.Sprint(map[bool]string{true: "yes", false: "no"}[sup]); !strings.Contains(line, " "+wantSup) {
			t.Errorf("text line for %s %q lacks %q:\n%s", xy, line, wantSup, out.String())
		}
	}
}
