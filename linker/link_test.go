package linker

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/forge-ml/forge/probe"
	"github.com/forge-ml/forge/wheel"
)

// makeEntry writes a fake store entry: files maps slash paths to content.
func makeEntry(t *testing.T, root, name string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(root, name)
	for p, c := range files {
		fp := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(fp), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(fp, []byte(c), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func testVenv(t *testing.T) Venv {
	v := Venv{Root: t.TempDir(), Python: &probe.Interp{Major: 3, Minor: 12}}
	if err := os.MkdirAll(v.SitePackages(), 0o755); err != nil {
		t.Fatal(err)
	}
	return v
}

func plan(v Venv, entry, distInfo string, mode Mode) Plan {
	return Plan{Layer: v, Launcher: "/usr/bin/python3", EntryDir: entry, DistInfo: distInfo, Project: distInfo, Mode: mode, Requested: true}
}

func tree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		kind := "f"
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			kind = "l"
		case fi.IsDir():
			kind = "d"
		}
		out = append(out, kind+" "+filepath.ToSlash(rel))
		return nil
	})
	sort.Strings(out)
	return out
}

func TestLinkSplitsSharedDirectory(t *testing.T) {
	store := t.TempDir()
	a := makeEntry(t, store, "a", map[string]string{"ns/alpha/__init__.py": "A", "a-1.0.dist-info/METADATA": "Name: a\nVersion: 1.0\n"})
	b := makeEntry(t, store, "b", map[string]string{"ns/beta/__init__.py": "B", "b-1.0.dist-info/METADATA": "Name: b\nVersion: 1.0\n"})
	v := testVenv(t)
	ra, err := Link(plan(v, a, "a-1.0.dist-info", Symlink))
	if err != nil {
		t.Fatal(err)
	}
	rb, err := Link(plan(v, b, "b-1.0.dist-info", Symlink))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"d a-1.0.dist-info", "f a-1.0.dist-info/INSTALLER", "f a-1.0.dist-info/RECORD", "f a-1.0.dist-info/REQUESTED", "l a-1.0.dist-info/METADATA",
		"d b-1.0.dist-info", "f b-1.0.dist-info/INSTALLER", "f b-1.0.dist-info/RECORD", "f b-1.0.dist-info/REQUESTED", "l b-1.0.dist-info/METADATA",
		"d ns", "f ns/" + SharedMarker, "l ns/alpha", "l ns/beta",
	}
	sort.Strings(want)
	if got := tree(t, v.SitePackages()); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("site-packages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(ra.Split) != 0 || len(rb.Split) != 1 || rb.Split[0].Path != "lib/python3.12/site-packages/ns" {
		t.Errorf("splits: a=%v b=%v", ra.Split, rb.Split)
	}
	// Unlink b: a's half stays, the marker stays while ns still merges.
	var bOwned []Owned
	for _, o := range rb.Owned {
		bOwned = append(bOwned, o)
	}
	if err := Unlink(v, bOwned); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(v.SitePackages(), "ns", "alpha", "__init__.py")); err != nil {
		t.Errorf("a's half gone after unlinking b: %v", err)
	}
	// Unlink a's (post-split) paths: ns disappears with its marker.
	if err := Unlink(v, []Owned{{Path: "lib/python3.12/site-packages/ns/alpha", Kind: "link"}, {Path: "lib/python3.12/site-packages/a-1.0.dist-info", Kind: "dir"}}); err != nil {
		t.Fatal(err)
	}
	if got := tree(t, v.SitePackages()); len(got) != 0 {
		t.Errorf("left behind: %v", got)
	}
	// The store is untouched.
	if _, err := os.Stat(filepath.Join(a, "ns", "alpha", "__init__.py")); err != nil {
		t.Error(err)
	}
}

func TestLinkConflictRollsBack(t *testing.T) {
	store := t.TempDir()
	a := makeEntry(t, store, "a", map[string]string{"shared.py": "one", "a-1.0.dist-info/METADATA": "m"})
	b := makeEntry(t, store, "b", map[string]string{"bonly.py": "b", "shared.py": "two", "b-1.0.dist-info/METADATA": "m"})
	c := makeEntry(t, store, "c", map[string]string{"shared.py": "one", "c-1.0.dist-info/METADATA": "m"})
	v := testVenv(t)
	if _, err := Link(plan(v, a, "a-1.0.dist-info", Symlink)); err != nil {
		t.Fatal(err)
	}
	before := tree(t, v.SitePackages())
	_, err := Link(plan(v, b, "b-1.0.dist-info", Symlink))
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("different content at the same path: err = %v, want ErrConflict", err)
	}
	if after := tree(t, v.SitePackages()); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("failed link left changes:\n%v\nwas:\n%v", after, before)
	}
	// Identical content is shared, not a conflict.
	rc, err := Link(plan(v, c, "c-1.0.dist-info", Symlink))
	if err != nil {
		t.Fatalf("identical file: %v", err)
	}
	found := false
	for _, o := range rc.Owned {
		found = found || o.Path == "lib/python3.12/site-packages/shared.py"
	}
	if !found {
		t.Errorf("c does not record its share of shared.py: %v", rc.Owned)
	}
}

// TestLinkRefusesEnvironmentLinks: a wheel's .data/data/lib64/ (from an
// entry ingested before the store refused it) meets the environment's own
// lib64 -> lib. Merging would replace the link by a directory of links,
// resolved against the working directory; it is a conflict instead, in any
// working directory, and the link is left as it was.
func TestLinkRefusesEnvironmentLinks(t *testing.T) {
	store := t.TempDir()
	e := makeEntry(t, store, "x", map[string]string{"x-1.0.data/data/lib64/evil.txt": "evil", "x-1.0.dist-info/METADATA": "Name: x\nVersion: 1.0\n"})
	for _, mode := range []Mode{Symlink, Copy} {
		t.Run(string(mode), func(t *testing.T) {
			v := testVenv(t)
			if err := os.Symlink("lib", filepath.Join(v.Root, "lib64")); err != nil {
				t.Fatal(err)
			}
			before := tree(t, v.Root)
			t.Chdir(t.TempDir()) // a directory without lib/: a relative target resolved here breaks
			_, err := Link(plan(v, e, "x-1.0.dist-info", mode))
			if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "lib64") {
				t.Fatalf("err = %v, want a conflict naming lib64", err)
			}
			if target, err := os.Readlink(filepath.Join(v.Root, "lib64")); err != nil || target != "lib" {
				t.Errorf("lib64 is now %q (%v), want the link to lib", target, err)
			}
			if after := tree(t, v.Root); strings.Join(after, ",") != strings.Join(before, ",") {
				t.Errorf("failed link left changes:\n%v\nwas:\n%v", after, before)
			}
		})
	}
}

// TestLinkRefusesForeignData: an entry with another project's .data
// directory (stored before ingest refused it) is not linked, in any order
// of its directories, and leaves nothing behind.
func TestLinkRefusesForeignData(t *testing.T) {
	store := t.TempDir()
	for _, foreign := range []string{"aa_other-9.0.data", "zz_other-9.0.data"} {
		t.Run(foreign, func(t *testing.T) {
			e := makeEntry(t, store, foreign, map[string]string{
				"x/__init__.py": "X = 1", "x-1.0.dist-info/METADATA": "Name: x\nVersion: 1.0\n",
				"x-1.0.data/purelib/x_data.py": "OWN = 1", foreign + "/purelib/other/__init__.py": "EVIL = 1",
			})
			v := testVenv(t)
			before := tree(t, v.Root)
			_, err := Link(plan(v, e, "x-1.0.dist-info", Symlink))
			if !errors.Is(err, ErrForeignData) || !strings.Contains(err.Error(), foreign) {
				t.Fatalf("err = %v, want ErrForeignData naming %s", err, foreign)
			}
			if after := tree(t, v.Root); strings.Join(after, ",") != strings.Join(before, ",") {
				t.Errorf("failed link left changes:\n%v\nwas:\n%v", after, before)
			}
		})
	}
}

// TestWorkNamesReserved: every name the linker gives its own work files in
// an environment is one ingest refuses in a wheel.
func TestWorkNamesReserved(t *testing.T) {
	dst := "/env/lib/python3.12/site-packages/ns/mod.py"
	tmp, err := os.CreateTemp(t.TempDir(), ".forge-tmp-*") // writeFileAtomic's pattern
	if err != nil {
		t.Fatal(err)
	}
	tmp.Close()
	for _, name := range []string{SharedMarker, filepath.Base(SplitTemp(dst)), filepath.Base(CopyTemp(dst)), filepath.Base(tmp.Name()), layersPth, pycachePth, mirrorPth + "00_x.pth"} {
		if !wheel.IsForgeWorkName(name) && !strings.HasPrefix(name, wheel.ReservedSitePrefix) {
			t.Errorf("%s is not reserved", name)
		}
	}
	for _, name := range []string{"mod.py", ".hidden", "forge", "forge-split", "x.forge"} {
		if wheel.IsForgeWorkName(name) {
			t.Errorf("%s is reserved", name)
		}
	}
}

func TestLinkRealDirs(t *testing.T) {
	store := t.TempDir()
	a := makeEntry(t, store, "a", map[string]string{"pkga/sub/_ext.so": "elf", "pkga/__init__.py": "", "a-1.0.dist-info/METADATA": "m"})
	v := testVenv(t)
	p := plan(v, a, "a-1.0.dist-info", Symlink)
	p.RealDirs = map[string]bool{"pkga": true, "pkga/sub": true}
	if _, err := Link(p); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"pkga", "pkga/sub"} {
		fi, err := os.Lstat(filepath.Join(v.SitePackages(), d))
		if err != nil || !fi.IsDir() {
			t.Errorf("%s: %v %v, want a real directory", d, fi, err)
		}
	}
	fi, err := os.Lstat(filepath.Join(v.SitePackages(), "pkga", "sub", "_ext.so"))
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("_ext.so: %v %v, want a link", fi, err)
	}
}

func TestWriteLayersMirrorsParentPth(t *testing.T) {
	parent := testVenv(t)
	child := testVenv(t)
	os.WriteFile(filepath.Join(parent.SitePackages(), "extra.pth"), []byte("# comment\nrel/dir\n/abs/dir\nimport sys\n"), 0o644)
	os.WriteFile(filepath.Join(parent.SitePackages(), layersPth), []byte("/ignored\n"), 0o644)
	if err := WriteLayers(child, []string{parent.SitePackages(), "/global/site"}); err != nil {
		t.Fatal(err)
	}
	layers, _ := os.ReadFile(filepath.Join(child.SitePackages(), layersPth))
	if !strings.Contains(string(layers), parent.SitePackages()+"\n/global/site\n") {
		t.Errorf("layers .pth:\n%s", layers)
	}
	mirror, err := os.ReadFile(filepath.Join(child.SitePackages(), mirrorPth+"00_extra.pth"))
	if err != nil {
		t.Fatal(err)
	}
	want := "# comment\n" + filepath.Join(parent.SitePackages(), "rel/dir") + "\n/abs/dir\nimport sys\n"
	if string(mirror) != want {
		t.Errorf("mirror:\n%q\nwant:\n%q", mirror, want)
	}
	if _, err := os.Stat(filepath.Join(child.SitePackages(), mirrorPth+"00_"+layersPth)); err == nil {
		t.Error("forge's own .pth was mirrored")
	}
	// The parent's .pth goes away: so does its mirror.
	os.Remove(filepath.Join(parent.SitePackages(), "extra.pth"))
	WriteLayers(child, []string{parent.SitePackages()})
	if _, err := os.Stat(filepath.Join(child.SitePackages(), mirrorPth+"00_extra.pth")); err == nil {
		t.Error("stale mirror kept")
	}
}

func TestShebang(t *testing.T) {
	tests := []struct{ python, want string }{
		{"/env/bin/python", "#!/env/bin/python\n"},
		{"/a b/bin/python", "#!/bin/sh\n'''exec' '/a b/bin/python' \"$0\" \"$@\"\n' '''\n"},
	}
	for _, tt := range tests {
		if got := shebang(tt.python); got != tt.want {
			t.Errorf("shebang(%q) = %q, want %q", tt.python, got, tt.want)
		}
	}
}

// recViews records what View is asked for, and answers with symlinks to the
// entry's items under dir (the distInfo link to the entry's own .dist-info).
type recViews struct {
	dir, entry string
	calls      []string
}

func (v *recViews) View(distInfo string, tops []string, key string, requested bool, record func() ([]byte, error)) (string, []string, error) {
	rec, err := record()
	if err != nil {
		return "", nil, err
	}
	v.calls = append(v.calls, strings.Join([]string{distInfo, strings.Join(tops, ","), key, strconv.FormatBool(requested), string(rec)}, "|"))
	mk := func(name string) (string, error) {
		link := filepath.Join(v.dir, key+"-"+name)
		if err := os.Symlink(filepath.Join(v.entry, name), link); err != nil && !errors.Is(err, os.ErrExist) {
			return "", err
		}
		return link, nil
	}
	distLink, err := mk(distInfo)
	if err != nil {
		return "", nil, err
	}
	var topLinks []string
	for _, t := range tops {
		l, err := mk(t)
		if err != nil {
			return "", nil, err
		}
		topLinks = append(topLinks, l)
	}
	return distLink, topLinks, nil
}

// TestPrepareView: PrepareView asks the store for exactly the view Link
// then uses, and for none when the entry takes the general path (a .data
// directory) or the mode is not symlink.
func TestPrepareView(t *testing.T) {
	entry := makeEntry(t, t.TempDir(), "demo", map[string]string{
		"demo/__init__.py":                    "X = 1\n",
		"demo.pth":                            "import demo\n",
		"demo-1.0.dist-info/METADATA":         "Name: demo\nVersion: 1.0\n",
		"demo-1.0.dist-info/RECORD":           "",
		"demo-1.0.dist-info/entry_points.txt": "[console_scripts]\ndemo-cli = demo:main\n",
	})
	v := testVenv(t)
	views := &recViews{dir: t.TempDir(), entry: entry}
	p := plan(v, entry, "", Symlink)
	p.Views = views
	if err := PrepareView(p); err != nil {
		t.Fatal(err)
	}
	if len(views.calls) != 1 {
		t.Fatalf("PrepareView asked for %d views, want 1", len(views.calls))
	}
	if _, err := Link(p); err != nil {
		t.Fatal(err)
	}
	if len(views.calls) != 2 || views.calls[0] != views.calls[1] {
		t.Errorf("PrepareView asked for\n%q\nLink for\n%q", views.calls[0], views.calls[len(views.calls)-1])
	}

	data := makeEntry(t, t.TempDir(), "withdata", map[string]string{
		"wd/__init__.py":            "",
		"wd-1.0.data/scripts/run":   "#!python\n",
		"wd-1.0.dist-info/METADATA": "Name: wd\nVersion: 1.0\n",
		"wd-1.0.dist-info/RECORD":   "",
	})
	views.calls = nil
	for _, q := range []Plan{plan(v, data, "", Symlink), plan(v, entry, "", Hardlink)} {
		q.Views = views
		if err := PrepareView(q); err != nil {
			t.Fatal(err)
		}
	}
	if len(views.calls) != 0 {
		t.Errorf("PrepareView asked for views of the general path: %q", views.calls)
	}
	if err := PrepareView(plan(v, t.TempDir(), "", Symlink)); !errors.Is(err, ErrNoDistInfo) {
		t.Errorf("an entry without .dist-info: %v", err)
	}
}
