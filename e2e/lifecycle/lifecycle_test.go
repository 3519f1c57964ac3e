// Package lifecycle drives the built forge binary the way a user would:
// create, install, import from Python, pip list/check, layer, uninstall,
// pip uninstall, and checks that the store never changes underneath.
package lifecycle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/probe"
)

var forgeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "forge-e2e-bin-")
	if err != nil {
		panic(err)
	}
	forgeBin = filepath.Join(dir, "forge")
	cmd := exec.Command("go", "build", "-o", forgeBin, "../../cmd/forge")
	cmd.Env = append(os.Environ(), "CGO_CFLAGS=-O2 -g -Wno-deprecated-declarations")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building forge: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func forge(t *testing.T, home string, args ...string) result {
	t.Helper()
	cmd := exec.Command(forgeBin, append([]string{"--home", home}, args...)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{o.String(), e.String(), code}
}

func mustForge(t *testing.T, home string, args ...string) string {
	t.Helper()
	r := forge(t, home, args...)
	if r.code != 0 {
		t.Fatalf("forge %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := run(t, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PYTHON") || strings.HasPrefix(kv, "VIRTUAL_ENV=") || strings.HasPrefix(kv, "PIP_") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_INPUT=1")
}

// storeDigest fingerprints the store's entries (see fixtures.TreeDigest).
func storeDigest(t *testing.T, home string) string {
	t.Helper()
	sum, err := fixtures.TreeDigest(filepath.Join(home, "store", "entries"))
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

type wheels struct {
	dir                                                string
	pure, pure2, native, alpha, beta, libA, libB, data string
}

func buildWheels(t *testing.T, py *probe.Interp) wheels {
	t.Helper()
	if !fixtures.HaveGCC() {
		t.Skip("gcc not available: native fixtures cannot be built")
	}
	dir := t.TempDir()
	w := wheels{dir: dir}
	write := func(wh fixtures.Wheel) string {
		p, err := wh.WriteTo(dir)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	w.pure = write(fixtures.PurePackage("demo", "1.0"))
	w.pure2 = write(fixtures.PurePackage("demo", "2.0"))
	nat, err := fixtures.NativeExtension(py, "fastmod", "0.3")
	if err != nil {
		t.Fatal(err)
	}
	w.native = write(nat)
	a, b, err := fixtures.NamespacePair()
	if err != nil {
		t.Fatal(err)
	}
	w.alpha, w.beta = write(a), write(b)
	ra, rb, err := fixtures.RunpathPair(py)
	if err != nil {
		t.Fatal(err)
	}
	w.libA, w.libB = write(ra), write(rb)
	w.data = write(fixtures.DataPackage("datapkg", "1.5"))
	return w
}

func pythons(t *testing.T) map[string]string {
	out := map[string]string{}
	for _, v := range []string{"3.10", "3.11", "3.12", "3.13"} {
		if p, err := probe.FindPython(v); err == nil {
			out[v] = p
		}
	}
	if len(out) == 0 {
		t.Skip("no Python 3.10-3.13 interpreter found")
	}
	return out
}

func TestLifecycle(t *testing.T) {
	for v, exe := range pythons(t) {
		t.Run("py"+v, func(t *testing.T) {
			t.Parallel()
			lifecycle(t, v, exe)
		})
	}
}

func lifecycle(t *testing.T, v, exe string) {
	py, err := probe.Interpreter(exe)
	if err != nil {
		t.Fatal(err)
	}
	w := buildWheels(t, py)
	home := t.TempDir()
	mustForge(t, home, "create", "base", "--python", exe)
	env := filepath.Join(home, "envs", "base")
	envPy := filepath.Join(env, "bin", "python")

	out := mustForge(t, home, "--json", "install", "--env", "base", w.pure, w.native, w.alpha, w.beta, w.libB, w.libA, w.data)
	var rep struct {
		Packages []struct {
			Name      string `json:"name"`
			Version   string `json:"version"`
			Reused    bool   `json:"reused"`
			ReuseKind string `json:"reuse_kind"`
			Verdict   string `json:"verdict"`
			Entry     string `json:"entry"`
		} `json:"packages"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("install --json: %v\n%s", err, out)
	}
	if len(rep.Packages) != 7 {
		t.Fatalf("report has %d packages, want 7", len(rep.Packages))
	}
	for _, p := range rep.Packages {
		if p.Reused || p.ReuseKind != "none" || p.Verdict == "refuse" || len(p.Entry) != 64 {
			t.Errorf("first install of %s: %+v", p.Name, p)
		}
	}

	// Python's own view: imports (pure, native, namespace pair, RUNPATH pair,
	// .data purelib/platlib) and metadata.
	got := mustRun(t, envPy, "-c", `
import demo, fastmod, nsroot.alpha, nsroot.beta, pkga.sub._ext as ext, datapkg_extra, datapkg_plat
import importlib.metadata as m
print(demo.VERSION, fastmod.answer(), nsroot.alpha.alpha_value(), nsroot.beta.beta_value(), ext.libb_value(), datapkg_extra.VALUE, datapkg_plat.VALUE)
print(m.version("demo"), m.version("fastmod"), m.version("nsroot-alpha"), m.version("libb"), m.version("pkga"), m.version("datapkg"))
`)
	want := fmt.Sprintf("1.0 %d %d beta %d purelib platlib\n1.0 0.3 1.0 1.0 1.0 1.5", fixtures.NativeAnswer, fixtures.AlphaValue, fixtures.LibbValue)
	if got != want {
		t.Errorf("python sees:\n%s\nwant:\n%s", got, want)
	}
	// pip, run from the base interpreter against the environment.
	list := mustRun(t, exe, "-m", "pip", "--python", envPy, "list", "--format=json")
	var pl []struct{ Name, Version string }
	if err := json.Unmarshal([]byte(list[strings.Index(list, "["):]), &pl); err != nil {
		t.Fatalf("pip list: %v\n%s", err, list)
	}
	names := map[string]string{}
	for _, p := range pl {
		names[strings.ToLower(p.Name)] = p.Version
	}
	for n, ver := range map[string]string{"demo": "1.0", "fastmod": "0.3", "nsroot-alpha": "1.0", "nsroot-beta": "1.0", "libb": "1.0", "pkga": "1.0", "datapkg": "1.5"} {
		if names[n] != ver {
			t.Errorf("pip list: %s = %q, want %q (all: %v)", n, names[n], ver, names)
		}
	}
	mustRun(t, exe, "-m", "pip", "--python", envPy, "check")
	// Entry points and .data.
	if got := mustRun(t, filepath.Join(env, "bin", "demo-cli")); got != "demo-cli 1.0" {
		t.Errorf("demo-cli printed %q", got)
	}
	if got := mustRun(t, filepath.Join(env, "bin", "datapkg-tool")); got != "datapkg-tool ok" {
		t.Errorf("datapkg-tool printed %q", got)
	}
	if _, err := os.Stat(filepath.Join(env, "share", "datapkg", "file.txt")); err != nil {
		t.Errorf(".data/data not placed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(env, "include", "site", "python"+v, "datapkg", "datapkg.h")); err != nil {
		t.Errorf(".data/headers not placed: %v", err)
	}
	sum0 := storeDigest(t, home)

	// A child sees the parent's packages and can shadow one.
	mustForge(t, home, "create", "child", "--parent", "base")
	childPy := filepath.Join(home, "envs", "child", "bin", "python")
	if got := mustRun(t, childPy, "-c", "import demo, fastmod; print(demo.VERSION, fastmod.answer())"); got != "1.0 42" {
		t.Errorf("child sees %q", got)
	}
	mustForge(t, home, "install", "--env", "child", w.pure2)
	if got := mustRun(t, childPy, "-c", "import demo, importlib.metadata as m; print(demo.VERSION, m.version('demo'))"); got != "2.0 2.0" {
		t.Errorf("child after shadowing sees %q", got)
	}
	if got := mustRun(t, envPy, "-c", "import demo; print(demo.VERSION)"); got != "1.0" {
		t.Errorf("parent after child's shadowing sees %q", got)
	}
	mustForge(t, home, "uninstall", "demo", "--env", "child")
	if got := mustRun(t, childPy, "-c", "import demo; print(demo.VERSION)"); got != "1.0" {
		t.Errorf("child after uninstall sees %q, want the parent's 1.0", got)
	}

	// forge uninstall: the import fails, the store is untouched.
	sum1 := storeDigest(t, home)
	mustForge(t, home, "uninstall", "demo", "--env", "base")
	if out, err := run(t, envPy, "-c", "import demo"); err == nil {
		t.Errorf("demo still importable after uninstall: %s", out)
	}
	if storeDigest(t, home) != sum1 {
		t.Error("forge uninstall changed the store")
	}

	// pip uninstall inside the environment: removes the package from this
	// environment only, the store stays byte-for-byte the same, and the other
	// half of the namespace pair stays importable.
	mustRun(t, exe, "-m", "pip", "--python", envPy, "uninstall", "-y", "fastmod", "nsroot-alpha", "pkga")
	if out, err := run(t, envPy, "-c", "import fastmod"); err == nil {
		t.Errorf("fastmod importable after pip uninstall: %s", out)
	}
	if got := mustRun(t, envPy, "-c", "import nsroot.beta, libb; print(nsroot.beta.beta_value())"); got != "beta" {
		t.Errorf("after pip uninstall of nsroot-alpha: %q", got)
	}
	if storeDigest(t, home) != sum1 {
		t.Error("pip uninstall changed the store")
	}
	_ = sum0

	// A second environment with the same wheels shares the store: exact
	// reuse, nothing new under store/, and links that point at the same files.
	entriesBefore, _ := os.ReadDir(filepath.Join(home, "store", "entries"))
	mustForge(t, home, "create", "second", "--python", exe)
	out = mustForge(t, home, "--json", "install", "--env", "second", w.pure, w.native)
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Packages {
		if !p.Reused || p.ReuseKind != "exact" {
			t.Errorf("second env: %s reused=%v kind=%s", p.Name, p.Reused, p.ReuseKind)
		}
	}
	entriesAfter, _ := os.ReadDir(filepath.Join(home, "store", "entries"))
	if len(entriesAfter) != len(entriesBefore) {
		t.Errorf("store entries %d → %d after a reusing install", len(entriesBefore), len(entriesAfter))
	}
	site2 := filepath.Join(home, "envs", "second", "lib", "python"+v, "site-packages")
	t1, err1 := os.Readlink(filepath.Join(site2, "demo"))
	if err1 != nil || !strings.HasPrefix(t1, filepath.Join(home, "store", "entries")) {
		t.Errorf("second env's demo is not a link into the store: %q %v", t1, err1)
	}
	if got := mustRun(t, filepath.Join(home, "envs", "second", "bin", "python"), "-c", "import demo, fastmod; print(demo.VERSION, fastmod.answer())"); got != "1.0 42" {
		t.Errorf("second env sees %q", got)
	}
	if sum := storeDigest(t, home); sum != sum1 {
		t.Error("running packages from environments wrote into the store (bytecode?)")
	}
}

// TestParentPthAndGlobal: a parent's own .pth files (path and import lines)
// take effect in its children, and the GLOBAL layer is seen by every
// environment of the same Python.
func TestParentPthAndGlobal(t *testing.T) {
	exe, err := probe.FindPython("3.12")
	if err != nil {
		t.Skip("python 3.12 not found")
	}
	dir := t.TempDir()
	pth := fixtures.PurePackage("pthpkg", "1.0", fixtures.WithFiles(
		fixtures.File{Name: "pthpkg_paths.pth", Data: []byte("pthpkg_hidden\nimport os; os.environ['PTHPKG_RAN'] = '1'\n")},
		fixtures.File{Name: "pthpkg_hidden/hidden_mod.py", Data: []byte("WHERE = 'hidden'\n")},
	))
	pp, err := pth.WriteTo(dir)
	if err != nil {
		t.Fatal(err)
	}
	gp, err := fixtures.PurePackage("globalpkg", "3.0").WriteTo(dir)
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	mustForge(t, home, "create", "parent", "--python", exe)
	mustForge(t, home, "create", "kid", "--parent", "parent")
	// Installed after the child exists: the child's layering is refreshed.
	mustForge(t, home, "install", "--env", "parent", pp)
	check := `import hidden_mod, os; print(hidden_mod.WHERE, os.environ.get("PTHPKG_RAN"))`
	for _, e := range []string{"parent", "kid"} {
		if got := mustRun(t, filepath.Join(home, "envs", e, "bin", "python"), "-c", check); got != "hidden 1" {
			t.Errorf("%s: .pth effect = %q, want \"hidden 1\"", e, got)
		}
	}
	mustForge(t, home, "install", "--env", "kid", "--global", gp)
	mustForge(t, home, "create", "other", "--python", exe)
	for _, e := range []string{"parent", "kid", "other"} {
		if got := mustRun(t, filepath.Join(home, "envs", e, "bin", "python"), "-c", "import globalpkg; print(globalpkg.VERSION)"); got != "3.0" {
			t.Errorf("%s sees GLOBAL globalpkg %q", e, got)
		}
	}
	mustForge(t, home, "uninstall", "--env", "other", "--global", "globalpkg")
	if out, err := run(t, filepath.Join(home, "envs", "kid", "bin", "python"), "-c", "import globalpkg"); err == nil {
		t.Errorf("globalpkg importable after removal from GLOBAL: %s", out)
	}
	mustForge(t, home, "uninstall", "--env", "parent", "pthpkg")
	if out, err := run(t, filepath.Join(home, "envs", "kid", "bin", "python"), "-c", "import hidden_mod"); err == nil {
		t.Errorf("child still sees the parent's .pth after uninstall: %s", out)
	}
}

func TestLinkModes(t *testing.T) {
	exe, err := probe.FindPython("3.12")
	if err != nil {
		t.Skip("python 3.12 not found")
	}
	py, _ := probe.Interpreter(exe)
	w := buildWheels(t, py)
	for _, mode := range []string{"hardlink", "copy"} {
		t.Run(mode, func(t *testing.T) {
			home := t.TempDir()
			mustForge(t, home, "create", "e", "--python", exe)
			mustForge(t, home, "install", "--env", "e", "--link-mode", mode, w.pure, w.native, w.alpha, w.beta)
			envPy := filepath.Join(home, "envs", "e", "bin", "python")
			if got := mustRun(t, envPy, "-c", "import demo, fastmod, nsroot.alpha, nsroot.beta; print(demo.VERSION, fastmod.answer(), nsroot.alpha.alpha_value())"); got != "1.0 42 7" {
				t.Errorf("%s: python sees %q", mode, got)
			}
			site := filepath.Join(home, "envs", "e", "lib", "python3.12", "site-packages")
			fi, err := os.Lstat(filepath.Join(site, "demo", "__init__.py"))
			if err != nil || fi.Mode()&fs.ModeSymlink != 0 {
				t.Fatalf("%s: demo/__init__.py is %v %v, want a real file", mode, fi, err)
			}
			sum := storeDigest(t, home)
			mustRun(t, exe, "-m", "pip", "--python", envPy, "uninstall", "-y", "demo")
			mustForge(t, home, "uninstall", "fastmod", "--env", "e")
			if storeDigest(t, home) != sum {
				t.Errorf("%s: uninstall changed the store", mode)
			}
			if got := mustRun(t, envPy, "-c", "import nsroot.beta; print(nsroot.beta.beta_value())"); got != "beta" {
				t.Errorf("%s: %q", mode, got)
			}
		})
	}
}

func TestBadWheelsThroughCLI(t *testing.T) {
	exe, err := probe.FindPython("3.12")
	if err != nil {
		t.Skip("python 3.12 not found")
	}
	home := t.TempDir()
	mustForge(t, home, "create", "e", "--python", exe, "--without-pip") // the store must stay empty
	dir := t.TempDir()
	for _, h := range fixtures.HostileWheels() {
		if h.Name == "many-members" || strings.HasPrefix(h.Name, "bomb") {
			continue // covered by store tests; slow through a process
		}
		t.Run(h.Name, func(t *testing.T) {
			p := filepath.Join(dir, h.Filename)
			os.WriteFile(p, h.Data, 0o644)
			r := forge(t, home, "install", "--env", "e", p)
			want := 1
			if h.Kind == fixtures.KindIntegrity {
				want = 4
			}
			if r.code != want {
				t.Errorf("exit %d, want %d: %s", r.code, want, r.stderr)
			}
			if !strings.Contains(r.stderr, h.Filename) || !strings.Contains(strings.ToLower(r.stderr), strings.ToLower(h.Want)) {
				t.Errorf("error does not name the wheel and %q: %s", h.Want, r.stderr)
			}
		})
	}
	ents, _ := os.ReadDir(filepath.Join(home, "store", "entries"))
	if len(ents) != 0 {
		t.Errorf("store has %d entries after only bad wheels", len(ents))
	}
}

func TestConcurrentInstalls(t *testing.T) {
	exe, err := probe.FindPython("3.12")
	if err != nil {
		t.Skip("python 3.12 not found")
	}
	home := t.TempDir()
	dir := t.TempDir()
	var ws []string
	for i := 0; i < 4; i++ {
		p, _ := fixtures.PurePackage(fmt.Sprintf("conc%d", i), "1.0").WriteTo(dir)
		ws = append(ws, p)
	}
	const n = 4
	for i := 0; i < n; i++ {
		mustForge(t, home, "create", fmt.Sprintf("e%d", i), "--python", exe, "--without-pip")
	}
	var wg sync.WaitGroup
	res := make([]result, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = forge(t, home, append([]string{"install", "--env", fmt.Sprintf("e%d", i)}, ws...)...)
		}()
	}
	wg.Wait()
	for i, r := range res {
		if r.code != 0 {
			t.Errorf("install %d: exit %d: %s", i, r.code, r.stderr)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(home, "store", "entries"))
	if len(ents) != len(ws) {
		t.Errorf("%d store entries, want %d (one per wheel)", len(ents), len(ws))
	}
	for i := 0; i < n; i++ {
		envPy := filepath.Join(home, "envs", fmt.Sprintf("e%d", i), "bin", "python")
		if got := mustRun(t, envPy, "-c", "import conc0, conc3; print(conc0.VERSION, conc3.VERSION)"); got != "1.0 1.0" {
			t.Errorf("env %d sees %q", i, got)
		}
	}
}
