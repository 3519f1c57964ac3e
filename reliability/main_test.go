package reliability

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/forge-ml/forge/probe"
)

var (
	forgeBin string

	crashTrials = flag.Int("crash.trials", 20, "trials of TestCrash (the harness' CI size; go run ./reliability/crash for 200+)")
	concDur     = flag.Duration("concurrency.duration", 10*time.Second, "duration of TestConcurrency")
	concProcs   = flag.Int("concurrency.procs", 8, "processes of TestConcurrency")
)

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "forge-reliability-bin-")
	if err != nil {
		panic(err)
	}
	// Readable by every user: fault tests run forge as nobody.
	os.Chmod(dir, 0o755)
	forgeBin, err = BuildForge(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testPython is the interpreter the harness tests use.
func testPython(t *testing.T) string {
	t.Helper()
	for _, v := range []string{"3.12", "3.11", ""} {
		if p, err := probe.FindPython(v); err == nil {
			return p
		}
	}
	t.Skip("no Python interpreter on this machine")
	return ""
}

// workDir is a temporary directory every user can enter.
func workDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for p := d; p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
	return d
}

// wheelHome writes the harness wheel set into a new work directory and
// returns it with a Forge whose home, beside it, does not exist yet.
func wheelHome(t *testing.T) (Forge, *WheelSet) {
	t.Helper()
	root := workDir(t)
	ws, err := WriteWheels(mkdir(filepath.Join(root, "wheels")))
	if err != nil {
		t.Fatal(err)
	}
	return Forge{Bin: forgeBin, Home: filepath.Join(root, "home")}, ws
}

// mustForge runs forge and fails the test unless it exits 0.
func mustForge(t *testing.T, f Forge, args ...string) Result {
	t.Helper()
	r := f.Run(context.Background(), args...)
	if r.Code != 0 {
		t.Fatalf("%s", r)
	}
	return r
}

// clean checks a home without repairing: every invariant holds and doctor
// has nothing to report ("no partial state").
func clean(t *testing.T, f Forge, dists []Dist) {
	t.Helper()
	v, err := Check(context.Background(), f, CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, n := range v.Issues {
		t.Errorf("doctor: %d %s issue(s)", n, k)
	}
	if !v.OK() {
		t.Errorf("problems:\n  %s", strings.Join(v.Problems, "\n  "))
	}
	v, err = Check(context.Background(), f, CheckOptions{Fix: true, Python: true, Dists: dists})
	if err != nil {
		t.Fatal(err)
	}
	if !v.OK() {
		t.Errorf("problems:\n  %s", strings.Join(v.Problems, "\n  "))
	}
}
