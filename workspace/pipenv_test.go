package workspace_test

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/probe"
	"github.com/forge-ml/forge/workspace"
	"github.com/forge-ml/forge/workspace/doctor"
	"github.com/forge-ml/forge/workspace/inspect"
	"github.com/forge-ml/forge/workspace/internal/wstest"
)

// TestCreateLinksPip: for every Python 3.10-3.13 here, a new environment
// links its interpreter's bundled pip from the store (one entry per pip
// wheel, shared by the environments), has launchers pip, pip3 and pip3.X
// for its own Python, reports its own site-packages, and pip install inside
// it writes real files into its LOCAL layer and nothing into the store
// (checked on 3.12).
func TestCreateLinksPip(t *testing.T) {
	ctx := context.Background()
	t.Setenv("PYTHONDONTWRITEBYTECODE", "") // pip's own imports write bytecode too
	whl, err := fixtures.PurePackage("demo", "1.0").WriteTo(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, xy := range []string{"3.10", "3.11", "3.12", "3.13"} {
		t.Run(xy, func(t *testing.T) {
			exe := wstest.NeedPython(t, xy)
			ran++
			ws := wstest.Open(t)
			py, err := ws.Interp(exe)
			if err != nil {
				t.Fatal(err)
			}
			bundled, err := probe.BundledPip(py)
			if err != nil {
				t.Fatalf("Python %s bundles no pip wheel: %v", xy, err)
			}
			one, err := ws.Create(ctx, workspace.CreateOptions{Name: "one", Python: exe})
			if err != nil {
				t.Fatal(err)
			}
			two, err := ws.Create(ctx, workspace.CreateOptions{Name: "two", Python: exe})
			if err != nil {
				t.Fatal(err)
			}
			entries, err := ws.Store.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 || entries[0].Name != "pip" || !strings.Contains(filepath.Base(bundled), "-"+entries[0].Version+"-") {
				t.Fatalf("store after two creates: %v, want the one pip entry of %s", entries, bundled)
			}
			for _, e := range []*workspace.Env{one, two} {
				ms, err := ws.Store.Manifests(ctx, e.Name)
				if err != nil || len(ms) != 1 || ms[0].NormName != "pip" || ms[0].Entry != entries[0].SHA256 || ms[0].State != "linked" {
					t.Errorf("%s manifest: %+v %v, want pip linked", e.Name, ms, err)
				}
			}

			var pips []string
			bins, _ := os.ReadDir(one.Venv.Bin())
			for _, b := range bins {
				if strings.HasPrefix(b.Name(), "pip") {
					pips = append(pips, b.Name())
				}
			}
			if want := []string{"pip", "pip3", "pip" + xy}; strings.Join(pips, " ") != strings.Join(want, " ") {
				t.Errorf("launchers %v, want %v", pips, want)
			}
			site := one.Venv.SitePackages()
			argv := []string{one.Venv.Interpreter(), "-m", "pip", "--version"}
			if xy == "3.12" {
				argv = []string{filepath.Join(one.Venv.Bin(), "pip"+xy), "--version"}
			}
			if out := wstest.RunOK(t, argv...); !strings.Contains(out, filepath.Join(site, "pip")) || !strings.Contains(out, "(python "+xy+")") {
				t.Errorf("%s: %q, want pip from %s", strings.Join(argv, " "), out, site)
			}
			if xy != "3.12" {
				return // pip itself runs the same on each; one is enough (it takes seconds)
			}

			before := storeTree(t, ws)
			wstest.RunOK(t, one.Venv.Interpreter(), "-m", "pip", "install", "--no-index", "--disable-pip-version-check", "-q", whl)
			for _, p := range []string{"demo/__init__.py", "demo-1.0.dist-info/METADATA", "demo-1.0.dist-info/RECORD"} {
				fi, err := os.Lstat(filepath.Join(site, p))
				if err != nil || !fi.Mode().IsRegular() {
					t.Errorf("%s after pip install: %v %v, want a real file in LOCAL", p, fi, err)
				}
			}
			if _, err := os.Lstat(filepath.Join(two.Venv.SitePackages(), "demo")); err == nil {
				t.Error("pip install in one wrote into two")
			}
			list := wstest.RunOK(t, one.Venv.Interpreter(), "-m", "pip", "list", "--disable-pip-version-check", "--format=freeze")
			if got := strings.Fields(list); strings.Join(got, " ") != "demo==1.0 pip=="+entries[0].Version {
				t.Errorf("pip list: %q", got)
			}
			wstest.RunOK(t, one.Venv.Interpreter(), "-m", "pip", "check", "--disable-pip-version-check")
			// forge tree agrees with pip list and pip check: the package pip
			// installed is there, marked as not forge's.
			tree, err := inspect.Tree(ctx, ws, inspect.TreeOptions{Env: "one"})
			if err != nil {
				t.Fatal(err)
			}
			var effective []string
			for _, p := range tree.Effective {
				effective = append(effective, p.Normalized+"=="+p.Version)
			}
			sort.Strings(effective)
			if got, want := strings.Join(effective, " "), strings.Join(strings.Fields(list), " "); got != want {
				t.Errorf("forge tree: %s; pip list: %s", got, want)
			}
			for _, p := range tree.Layers[0].Packages {
				if want := map[string]string{"demo": inspect.StateUnmanaged, "pip": "linked"}[p.Normalized]; p.State != want {
					t.Errorf("tree: %s is %q, want %q", p.Name, p.State, want)
				}
			}
			if len(tree.Conflicts) != 0 {
				t.Errorf("tree conflicts %v; pip check found none", tree.Conflicts)
			}
			// pip install -U pip in two: the new pip's files are real, the
			// store keeps the old one, and tree shows what pip shows.
			if other := otherPipWheel(t, bundled); other != "" {
				wstest.RunOK(t, two.Venv.Interpreter(), "-m", "pip", "install", "--no-index", "--disable-pip-version-check", "-q", other)
				if fi, err := os.Lstat(filepath.Join(two.Venv.SitePackages(), "pip")); err != nil || !fi.IsDir() {
					t.Errorf("pip after the upgrade: %v %v, want a real directory", fi, err)
				}
				list := wstest.RunOK(t, filepath.Join(two.Venv.Bin(), "pip"), "list", "--disable-pip-version-check", "--format=freeze")
				tree, err := inspect.Tree(ctx, ws, inspect.TreeOptions{Env: "two"})
				if err != nil {
					t.Fatal(err)
				}
				if len(tree.Effective) != 1 || strings.TrimSpace(list) != "pip=="+tree.Effective[0].Version || tree.Layers[0].Packages[0].State != inspect.StateUnmanaged {
					t.Errorf("after pip upgraded itself: pip list %q, tree %+v", list, tree.Layers[0].Packages)
				}
				// doctor --fix forgets forge's pip of two and keeps pip's:
				// relinking would put the old pip back over the new one.
				rep, err := doctor.Run(ctx, ws, doctor.Options{Fix: true})
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range rep.Applied {
					// pip_removed (its .dist-info is gone) and a replaced
					// package's broken links both forget the record and
					// keep what pip put there; either may be reported.
					if f.Action != doctor.ForgetReplacedAction && f.Action != "forget_removed" {
						t.Errorf("doctor --fix after pip upgraded itself applied %+v", f)
					}
				}
				if len(rep.Applied) != 1 || len(rep.Failed) != 0 || len(rep.Remaining) != 0 {
					t.Errorf("doctor --fix after pip upgraded itself: applied %+v failed %+v remaining %+v", rep.Applied, rep.Failed, rep.Remaining)
				}
				if after := wstest.RunOK(t, filepath.Join(two.Venv.Bin(), "pip"), "list", "--disable-pip-version-check", "--format=freeze"); after != list {
					t.Errorf("pip list after doctor --fix: %q, before %q", after, list)
				}
				if ms, err := ws.Store.Manifests(ctx, "two"); err != nil || len(ms) != 0 {
					t.Errorf("two's manifest after doctor --fix: %+v %v, want none", ms, err)
				}
			}
			if after := storeTree(t, ws); after != before {
				t.Errorf("pip wrote into the store:\n--- before\n%s--- after\n%s", before, after)
			}
		})
	}
	if ran == 0 {
		t.Skip("no Python 3.10-3.13 here")
	}
}

// TestCreateWithoutPip: --without-pip links nothing and makes no launcher.
func TestCreateWithoutPip(t *testing.T) {
	wstest.NeedPython(t, "3.12")
	ctx := context.Background()
	ws := wstest.Open(t)
	e, err := ws.Create(ctx, workspace.CreateOptions{Name: "bare", Python: "3.12", WithoutPip: true})
	if err != nil {
		t.Fatal(err)
	}
	if ms, err := ws.Store.Manifests(ctx, "bare"); err != nil || len(ms) != 0 {
		t.Errorf("manifest %v %v, want none", ms, err)
	}
	if entries, err := ws.Store.List(ctx); err != nil || len(entries) != 0 {
		t.Errorf("store %v %v, want empty", entries, err)
	}
	for _, n := range []string{"pip", "pip3", "pip3.12"} {
		if _, err := os.Lstat(filepath.Join(e.Venv.Bin(), n)); err == nil {
			t.Errorf("bin/%s exists", n)
		}
	}
	out, err := exec.Command(e.Venv.Interpreter(), "-m", "pip", "--version").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "No module named pip") {
		t.Errorf("python -m pip in an environment without pip: %v %s", err, out)
	}
}

// storeTree lists every path under the store's entries with its mode.
func storeTree(t *testing.T, ws *workspace.Workspace) string {
	t.Helper()
	var lines []string
	root := ws.Store.EntriesDir()
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
	return strings.Join(lines, "\n") + "\n"
}

// otherPipWheel is a pip wheel of another version than bundled that some
// installed Python bundles, or "" (then the upgrade is not tried).
func otherPipWheel(t *testing.T, bundled string) string {
	for _, xy := range []string{"3.13", "3.10", "3.11"} {
		exe, err := probe.FindPython(xy)
		if err != nil {
			continue
		}
		py, err := probe.Interpreter(exe, probe.WithCacheDir(t.TempDir()))
		if err != nil {
			continue
		}
		if p, err := probe.BundledPip(py); err == nil && filepath.Base(p) != filepath.Base(bundled) {
			return p
		}
	}
	t.Log("no other pip wheel here: pip upgrading itself is not tried")
	return ""
}
