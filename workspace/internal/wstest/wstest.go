// Package wstest holds what the tests of workspace's command packages
// share: a workspace in a throw-away home, and skipping without Python.
package wstest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/lockfile"
	"github.com/forge-ml/forge/probe"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
	"github.com/forge-ml/forge/workspace/gc"
)

// NeedPython skips tb unless Python xy is installed, and returns its
// interpreter.
func NeedPython(tb testing.TB, xy string) string {
	tb.Helper()
	exe, err := probe.FindPython(xy)
	if err != nil {
		tb.Skipf("Python %s is not installed here: %v", xy, err)
	}
	return exe
}

// Open opens a workspace in a new temporary home, closed when the
// test ends.
func Open(tb testing.TB) *workspace.Workspace {
	tb.Helper()
	ws, err := workspace.Open(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ws.Close() })
	return ws
}

// ABIWheels writes the pure, glibc and cuda wheels of fixtures.ABISet
// into dir and returns their paths by short name.
func ABIWheels(t testing.TB, dir string) map[string]string {
	t.Helper()
	if !fixtures.HaveGCC() {
		t.Skip("gcc/objcopy not on PATH: cannot build the ELF members")
	}
	set, err := fixtures.ABISet(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	wheels := map[string]fixtures.Wheel{"pure": set["pure"], "glibc": set["glibc"], "cuda": set["cuda"]}
	out := map[string]string{}
	for k, w := range wheels {
		out[k] = fixtures.WriteWheel(t, dir, w)
	}
	return out
}

// ReadBuilt returns a reader for what a fixtures builder (GlibcSO,
// StubLibrary, ...) made: given the builder's path and error, it returns
// the file's bytes, failing tb when the builder failed or the file cannot
// be read.
func ReadBuilt(tb testing.TB) func(p string, err error) []byte {
	return func(p string, err error) []byte {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
}

// WriteWheels writes the wheels into dir and returns their paths, in the
// order given.
func WriteWheels(tb testing.TB, dir string, wheels ...fixtures.Wheel) []string {
	tb.Helper()
	var out []string
	for _, w := range wheels {
		out = append(out, fixtures.WriteWheel(tb, dir, w))
	}
	return out
}

// FleetDir writes the fleet's host profiles into a directory.
func FleetDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := fixtures.WriteProfiles(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// WriteLock writes l as dir/pylock.toml and returns its path.
func WriteLock(t *testing.T, dir string, l *lockfile.Lock) string {
	t.Helper()
	data, err := lockfile.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "pylock.toml")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// BaseAndApp creates "base" (Python 3.12) and "app" on it, both without
// pip, and installs the wheels base into base and app into app, under
// policy ("" for the environments' own).
func BaseAndApp(tb testing.TB, ws *workspace.Workspace, policy abi.Policy, base, app []string) {
	tb.Helper()
	ctx := context.Background()
	for _, c := range []workspace.CreateOptions{{Name: "base", Python: "3.12", WithoutPip: true}, {Name: "app", Parent: "base", WithoutPip: true}} {
		if _, err := ws.Create(ctx, c); err != nil {
			tb.Fatal(err)
		}
	}
	for _, in := range []workspace.InstallOptions{{Env: "base", Specs: base, Policy: string(policy)}, {Env: "app", Specs: app, Policy: string(policy)}} {
		if _, err := ws.Install(ctx, in); err != nil {
			tb.Fatal(err)
		}
	}
}

// LockEnv opens a workspace with base (purepkg 0.9, glibcpkg) and app on
// it (purepkg 1.0, cudapkg), of real Python 3.12, installed under
// allow_abi; it returns the workspace and the wheel files.
func LockEnv(t *testing.T) (*workspace.Workspace, map[string]string) {
	t.Helper()
	NeedPython(t, "3.12")
	ws := Open(t)
	wheels := ABIWheels(t, t.TempDir())
	older, err := fixtures.PurePackage("purepkg", "0.9").WriteTo(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	wheels["older"] = older
	BaseAndApp(t, ws, abi.AllowABI, []string{older, wheels["glibc"]}, []string{wheels["pure"], wheels["cuda"]})
	return ws, wheels
}

// DocFixture is a forge home with one environment "app" (Python 3.12)
// holding alpha and beta, and gamma ingested but not installed.
type DocFixture struct {
	WS     *workspace.Workspace
	Env    *workspace.Env
	Wheels map[string]string // name -> wheel path
	Log    *bytes.Buffer
}

// DocSetup makes a DocFixture.
func DocSetup(t *testing.T) *DocFixture {
	t.Helper()
	NeedPython(t, "3.12")
	ctx := context.Background()
	ws := Open(t)
	f := &DocFixture{WS: ws, Wheels: map[string]string{}, Log: &bytes.Buffer{}}
	ws.Log = f.Log
	dir := t.TempDir()
	for _, w := range []fixtures.Wheel{
		fixtures.DataPackage("alpha", "1.0"),
		fixtures.PurePackage("beta", "2.0"),
		fixtures.PurePackage("gamma", "3.0"),
	} {
		p, err := w.WriteTo(dir)
		if err != nil {
			t.Fatal(err)
		}
		f.Wheels[w.Name] = p
	}
	var err error
	if f.Env, err = ws.Create(ctx, workspace.CreateOptions{Name: "app", Python: "3.12", WithoutPip: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := ws.Install(ctx, workspace.InstallOptions{Env: "app", Specs: []string{f.Wheels["alpha"], f.Wheels["beta"]}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ws.Store.Ingest(ctx, f.Wheels["gamma"]); err != nil {
		t.Fatal(err)
	}
	return f
}

// Entry is the one store entry named name.
func (f *DocFixture) Entry(t *testing.T, name string) *store.Entry {
	t.Helper()
	es, err := f.WS.Store.Find(context.Background(), name, "")
	if err != nil || len(es) != 1 {
		t.Fatalf("find %s: %v %v", name, es, err)
	}
	return es[0]
}

// Python runs code in the environment and returns its output.
func (f *DocFixture) Python(t *testing.T, code string) (string, error) {
	t.Helper()
	out, err := exec.Command(f.Env.Venv.Interpreter(), "-c", code).CombinedOutput()
	return string(out), err
}

// RunOK runs argv and returns its output; it fails tb when the command does.
func RunOK(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// FileSHA256 is the sha256 (hex) and size of the file p.
func FileSHA256(t *testing.T, p string) (string, int64) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), int64(len(b))
}

// GCNames are the names of the entries gc removed, sorted.
func GCNames(rep *gc.Report) []string {
	var out []string
	for _, e := range rep.Entries {
		out = append(out, e.Name)
	}
	sort.Strings(out)
	return out
}

// Layered is a forge home with two environments on Python 3.12:
//
//	GLOBAL/3.12  six 1.16.0
//	base         sciplot 1.0 (numpy<2; tomli on Python < 3.11; extras-demo[dev]),
//	             numpy 1.26.4, extras-demo 0.3 ([dev] requires colorama)
//	app (on base) numpy 2.0.0, colorama 0.4.6
//
// so that app's numpy breaks base's sciplot.
func Layered(t *testing.T) *workspace.Workspace {
	t.Helper()
	exe := NeedPython(t, "3.12")
	ws := Open(t)
	ctx := context.Background()
	for _, c := range []workspace.CreateOptions{{Name: "base", Python: exe, WithoutPip: true}, {Name: "app", Parent: "base", WithoutPip: true}} {
		if _, err := ws.Create(ctx, c); err != nil {
			t.Fatalf("create %s: %v", c.Name, err)
		}
	}
	wheels := t.TempDir()
	write := func(w fixtures.Wheel) string {
		p, err := w.WriteTo(wheels)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	installs := []workspace.InstallOptions{
		{Env: "app", Global: true, Specs: []string{write(fixtures.PurePackage("six", "1.16.0"))}},
		{Env: "base", Specs: []string{
			write(fixtures.PurePackage("sciplot", "1.0", fixtures.WithRequires("numpy<2", `tomli; python_version < "3.11"`, "extras-demo[dev]>=0.2"))),
			write(fixtures.PurePackage("numpy", "1.26.4")),
			write(fixtures.PurePackage("extras-demo", "0.3", fixtures.WithExtra("dev", "colorama>=0.4"))),
		}},
		{Env: "app", Specs: []string{write(fixtures.PurePackage("numpy", "2.0.0")), write(fixtures.PurePackage("colorama", "0.4.6"))}},
	}
	for _, o := range installs {
		if _, err := ws.Install(ctx, o); err != nil {
			t.Fatalf("install %v into %s: %v", o.Specs, o.Env, err)
		}
	}
	return ws
}
