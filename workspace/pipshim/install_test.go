package pipshim

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/probe"
	"github.com/forge-ml/forge/resolver"
	"github.com/forge-ml/forge/wheel"
	"github.com/forge-ml/forge/workspace"
	"github.com/forge-ml/forge/workspace/internal/wstest"
)

func TestParsePipArgs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("FORGE_TEST_PIN", "1.5")
	write("req.txt", "# top\napp==1.0  # pinned\nwebkit[dev] \\\n  >=2.0\n-r sub/more.txt\n--index-url https://example.invalid/simple\n-c cons.txt\n")
	write("sub/more.txt", "corelib==${FORGE_TEST_PIN}\n-r more.txt\n") // includes itself: read once
	write("cons.txt", "netlib<0.6\n")
	write("hashes.txt", "corelib==1.5 --hash=sha256:00\n")
	write("edit.txt", "-e ./src\n")

	tests := []struct {
		name        string
		args        []string
		reqs        []string // requirement strings as parsed
		constraints []string
		unknown     []string
		wheelArgs   []string
		fastPath    bool
		noDeps      bool
		usage       bool
	}{
		{name: "requirements file, nested, continuation, env var, constraints",
			args:        []string{"-r", "req.txt", "--no-index", "--find-links", "/wheels"},
			reqs:        []string{"app==1.0", "webkit[dev]>=2.0", "corelib==1.5"},
			constraints: []string{"netlib<0.6"},
			wheelArgs:   []string{"-r", "req.txt", "--no-index", "--find-links", "/wheels"},
			fastPath:    true},
		{name: "glued and = forms",
			args:      []string{"-rreq.txt", "--find-links=/wheels", "-f/w2"},
			reqs:      []string{"app==1.0", "webkit[dev]>=2.0", "corelib==1.5"},
			wheelArgs: []string{"-r", "req.txt", "--find-links", "/wheels", "-f", "/w2"},
			fastPath:  true, constraints: []string{"netlib<0.6"}},
		{name: "install-only options dropped",
			args:      []string{"-U", "--upgrade-strategy", "eager", "--force-reinstall", "app==1.0", "--no-deps"},
			reqs:      []string{"app==1.0"},
			wheelArgs: []string{"app==1.0", "--no-deps"},
			fastPath:  true, noDeps: true},
		{name: "markers and extras on the command line",
			args:      []string{`tomli>=1; python_version < "3.11"`, "webkit[dev]==2.0"},
			reqs:      []string{`tomli>=1; python_version < "3.11"`, "webkit[dev]==2.0"},
			wheelArgs: []string{`tomli>=1; python_version < "3.11"`, "webkit[dev]==2.0"},
			fastPath:  true},
		{name: "path is left to pip",
			args:      []string{"./src/pkg"},
			unknown:   []string{"./src/pkg"},
			wheelArgs: []string{"./src/pkg"}},
		{name: "wheel file names its project",
			args:      []string{"dist/corelib-1.5-py3-none-any.whl"},
			reqs:      []string{"corelib @ dist/corelib-1.5-py3-none-any.whl"},
			wheelArgs: []string{"dist/corelib-1.5-py3-none-any.whl"}},
		{name: "hashes are left to pip", args: []string{"-r", "hashes.txt"},
			reqs: []string{"corelib==1.5"}, wheelArgs: []string{"-r", "hashes.txt"}},
		{name: "editable in a file is left to pip", args: []string{"-r", "edit.txt"},
			unknown: []string{"./src"}, wheelArgs: []string{"-r", "edit.txt"}},
		{name: "missing file is left to pip", args: []string{"-r", "nope.txt"}, wheelArgs: []string{"-r", "nope.txt"}},
		{name: "--user", args: []string{"--user", "app"}, usage: true},
		{name: "editable", args: []string{"-e", "."}, usage: true},
		{name: "target", args: []string{"--target=/x", "app"}, usage: true},
		{name: "value missing", args: []string{"app", "-r"}, usage: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parsePipArgs(tc.args, dir)
			if tc.usage {
				if !errors.Is(err, workspace.ErrUsage) {
					t.Fatalf("err = %v, want a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var reqs, cons []string
			for _, r := range p.reqs {
				reqs = append(reqs, r.req.String())
			}
			for _, c := range p.constraints {
				cons = append(cons, c.String())
			}
			if !reflect.DeepEqual(reqs, tc.reqs) {
				t.Errorf("requirements %q, want %q", reqs, tc.reqs)
			}
			if !reflect.DeepEqual(cons, tc.constraints) {
				t.Errorf("constraints %q, want %q", cons, tc.constraints)
			}
			if !reflect.DeepEqual(p.unknown, tc.unknown) {
				t.Errorf("unknown %q, want %q", p.unknown, tc.unknown)
			}
			if !reflect.DeepEqual(p.wheelArgs, tc.wheelArgs) {
				t.Errorf("pip wheel args %q, want %q", p.wheelArgs, tc.wheelArgs)
			}
			if (p.noFastPath == "") != tc.fastPath {
				t.Errorf("noFastPath %q, want fast path possible: %v", p.noFastPath, tc.fastPath)
			}
			if p.noDeps != tc.noDeps {
				t.Errorf("noDeps %v, want %v", p.noDeps, tc.noDeps)
			}
		})
	}
}

func TestPinnedVersion(t *testing.T) {
	for _, tc := range []struct {
		req, want string
		ok        bool
	}{
		{"a==1.0", "1.0", true},
		{"a[x]==1.0+cu121", "1.0+cu121", true},
		{"a===1.0", "1.0", true},
		{"a==1.*", "", false},
		{"a>=1.0", "", false},
		{"a==1.0,!=1.1", "", false},
		{"a", "", false},
		{"a @ https://example.invalid/a-1.0.tar.gz", "", false},
	} {
		t.Run(tc.req, func(t *testing.T) {
			r, err := resolver.ParseRequirement(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := pinnedVersion(r)
			if got != tc.want || ok != tc.ok {
				t.Errorf("pinnedVersion = %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// pipTestEnv keeps the user's pip configuration out of the pip forge runs.
func pipTestEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "PIP_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	t.Setenv("PIP_CONFIG_FILE", os.DevNull)
	t.Setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
	t.Setenv("PIP_NO_INPUT", "1")
}

// pipWorkspace is a workspace whose store holds the fixtures' wheelhouse,
// which is also returned as a directory for --find-links.
func pipWorkspace(t *testing.T, xy string) (*workspace.Workspace, string, *probe.Interp) {
	t.Helper()
	exe := wstest.NeedPython(t, xy)
	pipTestEnv(t)
	w := wstest.Open(t)
	wh := t.TempDir()
	paths, err := fixtures.Wheelhouse(wh)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if _, err := w.Store.Ingest(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	py, err := w.Interp(exe)
	if err != nil {
		t.Fatal(err)
	}
	return w, wh, py
}

// linked is an environment's LOCAL layer as name → version, and the names
// marked requested.
func linked(t *testing.T, w *workspace.Workspace, env string) (map[string]string, []string) {
	t.Helper()
	ctx := context.Background()
	ms, err := w.Store.Manifests(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var requested []string
	for _, m := range ms {
		en, err := w.Store.Get(ctx, m.Entry)
		if err != nil {
			t.Fatal(err)
		}
		got[m.NormName] = en.Version
		if m.Requested {
			requested = append(requested, m.NormName)
		}
	}
	sort.Strings(requested)
	return got, requested
}

func TestPipInstall(t *testing.T) {
	w, wh, py := pipWorkspace(t, "3.12")
	ctx := context.Background()
	cons := filepath.Join(t.TempDir(), "constraints.txt")
	if err := os.WriteFile(cons, []byte("corelib==1.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		args      []string
		pipRan    bool
		want      map[string]string
		requested []string
	}{
		{name: "pinned top, dependencies chosen from the store",
			args: []string{"app==1.0", "--no-index"}, want: fixtures.WheelhouseResolution("app", py.Minor), requested: []string{"app"}},
		{name: "old pin takes the dependency its own requirement allows",
			args: []string{"webkit==1.0", "--no-index"}, want: map[string]string{"webkit": "1.0", "corelib": "1.0"}, requested: []string{"webkit"}},
		{name: "requirement whose marker is false is skipped",
			args: []string{"webkit==1.0", `devtool==1.0; python_version < "3.0"`, "--no-index"},
			want: map[string]string{"webkit": "1.0", "corelib": "1.0"}, requested: []string{"webkit"}},
		{name: "no deps",
			args: []string{"webkit==2.0", "--no-deps", "--no-index"}, want: map[string]string{"webkit": "2.0"}, requested: []string{"webkit"}},
		{name: "unpinned requirement runs pip",
			args: []string{"webkit>=2", "--no-index", "--find-links", wh}, pipRan: true,
			want: fixtures.WheelhouseResolution("webkit", py.Minor), requested: []string{"webkit"}},
		{name: "constraint the store plan breaks: pip backtracks",
			args: []string{"webkit==2.0", "-c", cons, "--no-index", "--find-links", wh}, pipRan: true,
			want:      map[string]string{"webkit": "2.0", "corelib": "1.0", "fmtlib": "1.2.0", "netlib": "0.5"},
			requested: []string{"webkit"}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := "env" + string(rune('a'+i))
			if _, err := w.Create(ctx, workspace.CreateOptions{Name: env, Python: py.Executable, WithoutPip: true}); err != nil {
				t.Fatal(err)
			}
			rep, err := Install(ctx, w, InstallOptions{Env: env, Args: tc.args})
			if err != nil {
				var pe *workspace.PipError
				if errors.As(err, &pe) {
					t.Fatalf("%v\n%s", err, pe.Output)
				}
				t.Fatal(err)
			}
			if rep.PipRan != tc.pipRan {
				t.Errorf("pip_ran %v (reason %q), want %v", rep.PipRan, rep.PipReason, tc.pipRan)
			}
			got, requested := linked(t, w, env)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("linked %v, want %v", got, tc.want)
			}
			if !reflect.DeepEqual(requested, tc.requested) {
				t.Errorf("requested %v, want %v", requested, tc.requested)
			}
			if len(rep.Packages) != len(tc.want) {
				t.Errorf("report has %d packages, want %d", len(rep.Packages), len(tc.want))
			}
			for _, p := range rep.Packages {
				// The whole wheelhouse was in the store before: everything is reused.
				if !p.Reused || p.ReuseKind != workspace.ReuseExact || p.Verdict != abi.Accept || tc.want[wheel.NormalizeName(p.Name)] != p.Version {
					t.Errorf("%s %s: reused %v (%s), verdict %s", p.Name, p.Version, p.Reused, p.ReuseKind, p.Verdict)
				}
			}
		})
	}
}

func TestPipInstallPipFails(t *testing.T) {
	w, wh, py := pipWorkspace(t, "3.12")
	ctx := context.Background()
	if _, err := w.Create(ctx, workspace.CreateOptions{Name: "app", Python: py.Executable, WithoutPip: true}); err != nil {
		t.Fatal(err)
	}
	rep, err := Install(ctx, w, InstallOptions{Env: "app", Args: []string{"corelib==9.9", "--no-index", "--find-links", wh}})
	var pe *workspace.PipError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want a *PipError", err)
	}
	if pe.ExitCode != 1 || !strings.Contains(pe.Output, "No matching distribution found for corelib==9.9") {
		t.Errorf("exit %d, output:\n%s", pe.ExitCode, pe.Output)
	}
	if rep == nil || !rep.PipRan || !strings.Contains(rep.PipReason, "corelib==9.9 is not in the store") {
		t.Errorf("report %+v", rep)
	}
	if got, _ := linked(t, w, "app"); len(got) != 0 {
		t.Errorf("linked %v after pip failed", got)
	}
}

// TestPipInstallRefused: a wheel pip accepts but the ABI engine refuses
// (it needs the CUDA 12 runtime and a driver; this host is checked as one
// with none) stops the install before its dependency is linked.
func TestPipInstallRefused(t *testing.T) {
	if !fixtures.HaveGCC() {
		t.Skip("gcc/objcopy not on PATH: the CUDA test library cannot be built")
	}
	w, _, py := pipWorkspace(t, "3.12")
	ctx := context.Background()
	build := t.TempDir()
	so, err := fixtures.CUDASO(build, "libgpukern.so", 12, true)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(so)
	if err != nil {
		t.Fatal(err)
	}
	wh := t.TempDir()
	for _, wl := range []fixtures.Wheel{
		fixtures.PurePackage("okdep", "1.0"),
		{Name: "gpukern", Version: "1.0", Tag: "py3-none-linux_x86_64", Requires: []string{"okdep"},
			Files: []fixtures.File{{Name: "gpukern/__init__.py", Data: []byte("")}, {Name: "gpukern/libgpukern.so", Data: data, Mode: 0o755}}},
	} {
		if _, err := wl.WriteTo(wh); err != nil {
			t.Fatal(err)
		}
	}
	host := fixtures.Profile("nogpu-glibc228")
	w.Host = host
	if _, err := w.Create(ctx, workspace.CreateOptions{Name: "app", Python: py.Executable, WithoutPip: true}); err != nil {
		t.Fatal(err)
	}
	rep, err := Install(ctx, w, InstallOptions{Env: "app", Args: []string{"gpukern", "--no-index", "--find-links", wh}, Policy: "strict_abi"})
	if !errors.Is(err, abi.ErrIncompatible) {
		t.Fatalf("err = %v, want abi.ErrIncompatible", err)
	}
	if got, _ := linked(t, w, "app"); len(got) != 0 {
		t.Errorf("linked %v although gpukern was refused", got)
	}
	verdicts := map[string]abi.Outcome{}
	for _, p := range rep.Packages {
		verdicts[p.Name] = p.Verdict
	}
	if verdicts["gpukern"] != abi.Refuse || verdicts["okdep"] == abi.Refuse || len(verdicts) != 2 {
		t.Errorf("verdicts %v, want gpukern refused, okdep not", verdicts)
	}
}

func TestPipInstallPython(t *testing.T) {
	w, _, py := pipWorkspace(t, "3.12")
	ctx := context.Background()
	if _, err := w.Create(ctx, workspace.CreateOptions{Name: "app", Python: py.Executable, WithoutPip: true}); err != nil {
		t.Fatal(err)
	}
	e, err := w.OpenEnv(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	got, err := w.PipInterpreter(e, "")
	if err != nil || got != py.Executable {
		t.Errorf("default pip interpreter %q (%v), want the base %s (the environment has no pip)", got, err, py.Executable)
	}
	if other, err := probe.FindPython("3.10"); err == nil {
		if _, err := w.PipInterpreter(e, other); !errors.Is(err, workspace.ErrUsage) {
			t.Errorf("--python %s for a 3.12 environment: err = %v, want a usage error", other, err)
		}
	}
	if got, err := w.PipInterpreter(e, py.Executable); err != nil || got != py.Executable {
		t.Errorf("--python %s: %q, %v", py.Executable, got, err)
	}
}
