package workspace_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/workspace"
	"github.com/forge-ml/forge/workspace/doctor"
	"github.com/forge-ml/forge/workspace/gc"
	"github.com/forge-ml/forge/workspace/internal/wstest"
)

// sharedSetup: a workspace with environments one and two (Python 3.12) and
// the wheels beta (pure, with launchers) and the namespace pair; the wheel
// named install is installed into both.
func sharedSetup(t *testing.T, install string) (*workspace.Workspace, map[string]string, map[string]*workspace.Env) {
	t.Helper()
	wstest.NeedPython(t, "3.12")
	ctx := context.Background()
	ws := wstest.Open(t)
	alpha, nsBeta, err := fixtures.NamespacePair()
	if err != nil {
		t.Skipf("namespace pair needs gcc: %v", err)
	}
	dir := t.TempDir()
	wheels := map[string]string{}
	for _, w := range []fixtures.Wheel{fixtures.PurePackage("beta", "2.0"), alpha, nsBeta} {
		p, err := w.WriteTo(dir)
		if err != nil {
			t.Fatal(err)
		}
		wheels[w.Name] = p
	}
	envs := map[string]*workspace.Env{}
	for _, name := range []string{"one", "two"} {
		if envs[name], err = ws.Create(ctx, workspace.CreateOptions{Name: name, Python: "3.12", WithoutPip: true}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"one", "two"} {
		if _, err := ws.Install(ctx, workspace.InstallOptions{Env: name, Specs: []string{wheels[install]}}); err != nil {
			t.Fatal(err)
		}
	}
	return ws, wheels, envs
}

// pipIn runs the base interpreter's pip against an environment.
func pipIn(e *workspace.Env, args ...string) ([]byte, error) {
	args = append([]string{"-m", "pip", "--python", e.Venv.Interpreter(), "--disable-pip-version-check"}, args...)
	return exec.Command(e.Py.Executable, args...).CombinedOutput()
}

func lstat(t *testing.T, p string) os.FileInfo {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

func readRecord(t *testing.T, distInfo string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(distInfo, "RECORD"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

// TestSharedDistInfo: environments installing a wheel the same way share
// its .dist-info and hard-link the store's symlinks; pip and Python see an
// ordinary installation.
func TestSharedDistInfo(t *testing.T) {
	ctx := context.Background()
	ws, wheels, envs := sharedSetup(t, "beta")
	site := func(env string) string { return envs[env].Venv.SitePackages() }
	for _, p := range []string{"beta", "beta-2.0.dist-info"} {
		a, b := lstat(t, filepath.Join(site("one"), p)), lstat(t, filepath.Join(site("two"), p))
		if a.Mode()&os.ModeSymlink == 0 || !os.SameFile(a, b) {
			t.Errorf("%s: want one store symlink hard-linked into both environments, got %v and %v", p, a.Mode(), b.Mode())
		}
	}
	want := []string{
		"../../../bin/beta-cli,,", "../../../bin/beta-gui,,", "beta,,", "beta-2.0.dist-info,,",
		"beta-2.0.dist-info/INSTALLER,,", "beta-2.0.dist-info/METADATA,,", "beta-2.0.dist-info/RECORD,,",
		"beta-2.0.dist-info/REQUESTED,,", "beta-2.0.dist-info/WHEEL,,", "beta-2.0.dist-info/entry_points.txt,,",
	}
	if got := readRecord(t, filepath.Join(site("one"), "beta-2.0.dist-info")); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("RECORD:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if fi := lstat(t, filepath.Join(envs["one"].Venv.Bin(), "beta-cli")); !fi.Mode().IsRegular() {
		t.Errorf("launcher is %v, want a file of the environment's own", fi.Mode())
	}

	// Python's view, and pip's: uninstalling in one environment removes its
	// links only.
	py := envs["one"].Venv.Interpreter()
	out, err := exec.Command(py, "-c", "import beta, importlib.metadata as m; print(m.version('beta'), len(m.files('beta')))").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "2.0 10" {
		t.Fatalf("python: %s %v", out, err)
	}
	view, err := os.Readlink(filepath.Join(site("two"), "beta-2.0.dist-info"))
	if err != nil {
		t.Fatal(err)
	}
	before := readRecord(t, view)
	out, err = pipIn(envs["one"], "uninstall", "-y", "beta")
	if err != nil {
		t.Fatalf("pip uninstall: %s %v", out, err)
	}
	for _, p := range []string{filepath.Join(site("one"), "beta"), filepath.Join(site("one"), "beta-2.0.dist-info"), filepath.Join(envs["one"].Venv.Bin(), "beta-cli")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("pip uninstall left %s", p)
		}
	}
	if got := readRecord(t, view); strings.Join(got, "\n") != strings.Join(before, "\n") {
		t.Errorf("pip uninstall changed the shared RECORD")
	}
	out, err = exec.Command(envs["two"].Venv.Interpreter(), "-c", "import beta, importlib.metadata as m; print(m.version('beta'))").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "2.0" {
		t.Fatalf("environment two after pip uninstall in one: %s %v", out, err)
	}

	// Not requested: another view, without REQUESTED.
	if _, err := ws.Install(ctx, workspace.InstallOptions{Env: "one", Specs: []string{wheels["beta"]}, NotRequested: true}); err != nil {
		t.Fatal(err)
	}
	a, b := lstat(t, filepath.Join(site("one"), "beta-2.0.dist-info")), lstat(t, filepath.Join(site("two"), "beta-2.0.dist-info"))
	if os.SameFile(a, b) {
		t.Error("a dependency shares the .dist-info of a requested install")
	}
	if _, err := os.Stat(filepath.Join(site("one"), "beta-2.0.dist-info", "REQUESTED")); err == nil {
		t.Error("REQUESTED present for a dependency")
	}

	// gc removes the shared layout with the entry.
	for _, name := range []string{"one", "two"} {
		if _, err := ws.Uninstall(ctx, workspace.UninstallOptions{Env: name, Names: []string{"beta"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := gc.Run(ctx, ws, gc.Options{Force: true}); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(ws.Store.ViewsDir()); len(left) != 0 {
		t.Errorf("gc left %d shared layouts", len(left))
	}
}

// TestSharedDistInfoSplit: when another package splits a directory of a
// package installed with a shared .dist-info, that package gets a
// .dist-info of its own whose RECORD names the new links, and the shared
// one is untouched.
func TestSharedDistInfoSplit(t *testing.T) {
	ctx := context.Background()
	ws, wheels, envs := sharedSetup(t, "nsroot-alpha")
	site := envs["one"].Venv.SitePackages()
	di := filepath.Join(site, "nsroot_alpha-1.0.dist-info")
	view, err := os.Readlink(di)
	if err != nil {
		t.Fatalf("alpha's .dist-info is not shared: %v", err)
	}
	shared := readRecord(t, view)
	if _, err := ws.Install(ctx, workspace.InstallOptions{Env: "one", Specs: []string{wheels["nsroot-beta"]}}); err != nil {
		t.Fatal(err)
	}
	if fi := lstat(t, di); !fi.IsDir() {
		t.Fatalf("after the split alpha's .dist-info is %v, want a directory of its own", fi.Mode())
	}
	rec := strings.Join(readRecord(t, di), "\n")
	if !strings.Contains(rec, "nsroot/alpha,,") || strings.Contains(rec, "\nnsroot,,") {
		t.Errorf("alpha's RECORD after the split:\n%s", rec)
	}
	if got := readRecord(t, view); strings.Join(got, "\n") != strings.Join(shared, "\n") {
		t.Error("the split rewrote the shared RECORD in the store")
	}
	if fi := lstat(t, filepath.Join(envs["two"].Venv.SitePackages(), "nsroot_alpha-1.0.dist-info")); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("environment two lost its shared .dist-info")
	}
	py := envs["one"].Venv.Interpreter()
	out, err := pipIn(envs["one"], "uninstall", "-y", "nsroot-alpha")
	if err != nil {
		t.Fatalf("pip uninstall: %s %v", out, err)
	}
	out, err = exec.Command(py, "-c", "import nsroot.beta, importlib.metadata as m; print(m.version('nsroot-beta'))").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "1.0" {
		t.Fatalf("beta after pip uninstall of alpha: %s %v", out, err)
	}
	rep, err := doctor.Run(ctx, ws, doctor.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, is := range rep.Issues {
		if is.Kind == doctor.KindLinkOutsideStore || is.Kind == doctor.KindStrayLink {
			t.Errorf("doctor: %s %s", is.Kind, is.Message)
		}
	}
}
