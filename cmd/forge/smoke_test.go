package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/probe"
)

// TestSmokeScript runs scripts/smoke.sh, the release check, against a
// freshly built binary with its version set by -ldflags as RELEASE.md sets
// it, so that the script cannot drift from the CLI it drives. The build
// leaves out RELEASE.md's -trimpath: that changes every package's cache key,
// and recompiling modernc.org/sqlite and the rest cold took minutes of this
// test (8 on a loaded 2-core machine, 7 s warm); the path rewriting it does
// is not what the script checks.
func TestSmokeScript(t *testing.T) {
	if testing.Short() {
		t.Skip("builds forge and runs the whole user path")
	}
	var py *probe.Interp
	for _, v := range []string{"3.12", "3.13", "3.11", "3.10"} {
		if exe, err := probe.FindPython(v); err == nil {
			if py, err = probe.Interpreter(exe); err == nil {
				break
			}
		}
	}
	if py == nil {
		t.Skip("no Python 3.10 or newer here")
	}
	bin := filepath.Join(t.TempDir(), "forge")
	const version = "0.0.0-smoke"
	build := exec.Command("go", "build", "-ldflags", "-X main.version="+version, "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// The demo wheels of fixtures/cmd/demo-wheels, written here rather than
	// by the script's go run.
	wheels := []fixtures.Wheel{fixtures.PurePackage("demo", "1.0")}
	if fixtures.HaveGCC() {
		nat, err := fixtures.NativeExtension(py, "fastmod", "0.3")
		if err != nil {
			t.Fatal(err)
		}
		a, b, err := fixtures.NamespacePair()
		if err != nil {
			t.Fatal(err)
		}
		wheels = append(wheels, nat, a, b)
	}
	dir := t.TempDir()
	for _, w := range wheels {
		if _, err := w.WriteTo(dir); err != nil {
			t.Fatal(err)
		}
	}
	smoke := exec.Command("../../scripts/smoke.sh", bin)
	smoke.Env = append(os.Environ(), "WHEELS="+dir, "PYTHON="+py.Executable, "FORGE_VERSION="+version, "TMPDIR="+t.TempDir())
	out, err := smoke.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/smoke.sh: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "smoke: ok (") || (fixtures.HaveGCC() && !strings.Contains(string(out), "native extension")) {
		t.Errorf("scripts/smoke.sh output:\n%s", out)
	}

	t.Run("a failing step fails the script", func(t *testing.T) {
		// A version the binary does not have: the first step fails.
		smoke := exec.Command("../../scripts/smoke.sh", bin)
		smoke.Env = append(os.Environ(), "WHEELS="+dir, "PYTHON="+py.Executable, "FORGE_VERSION=9.9.9", "TMPDIR="+t.TempDir())
		out, err := smoke.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "smoke: step 'version' failed") || strings.Contains(string(out), "smoke: ok") {
			t.Errorf("err %v, output:\n%s", err, out)
		}
	})
}
