// Package e2e drives the built forge binary the way a user does and checks
// the result from Python's side.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/forge-ml/forge/e2e/realstack"
	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/probe"
)

// forgeBin is the forge binary TestMain builds once for every test.
var forgeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "forge-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	forgeBin = filepath.Join(dir, "forge")
	build := exec.Command("go", "build", "-o", forgeBin, "../cmd/forge")
	build.Env = append(os.Environ(), "CGO_CFLAGS=-O2 -g -Wno-deprecated-declarations")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building forge: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// dailyRun runs argv in dir and returns stdout, failing the test unless it
// exits with want.
func dailyRun(t *testing.T, home, dir string, want int, argv ...string) string {
	t.Helper()
	c := exec.Command(argv[0], argv[1:]...)
	c.Dir, c.Env = dir, realstack.ForgeEnv(home)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	err := c.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", strings.Join(argv, " "), err)
	}
	if code != want {
		t.Fatalf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(argv, " "), code, want, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// pipReport is the part of `forge pip install --json` the scenario reads.
type pipReport struct {
	Env       string   `json:"env"`
	PipRan    bool     `json:"pip_ran"`
	Requested []string `json:"requested"`
	Packages  []struct {
		Name      string   `json:"name"`
		Version   string   `json:"version"`
		Entry     string   `json:"entry"`
		Reused    bool     `json:"reused"`
		ReuseKind string   `json:"reuse_kind"`
		Layer     string   `json:"layer"`
		Verdict   string   `json:"verdict"`
		Requested bool     `json:"requested"`
		Warnings  []string `json:"warnings"`
	} `json:"packages"`
}

func parsePipReport(t *testing.T, out string) pipReport {
	t.Helper()
	var r pipReport
	var raw map[string]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("forge pip install --json: not one JSON document: %v\n%s", err, out)
	}
	for _, k := range []string{"env", "host", "policy", "pip_ran", "requested", "packages"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("report has no %q: %s", k, out)
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// pipList is what pip sees installed in the environment whose python is py,
// as name → version (pip runs from the base interpreter: forge's
// environments, like the reference venv, have no pip of their own).
func pipList(t *testing.T, home, base, py string) map[string]string {
	t.Helper()
	out := dailyRun(t, home, "", 0, base, "-m", "pip", "--python", py, "list", "--format=json")
	var list []struct{ Name, Version string }
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("pip list: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, p := range list {
		got[strings.ToLower(p.Name)] = p.Version
	}
	return got
}

// TestDailyScenario is the daily scenario against the fixtures'
// wheelhouse (a library with three dependencies, a python_version marker,
// a [dev] extra): forge pip install installs exactly what pip installs into a
// plain venv, pip check passes, a second install of the pinned result into
// a new environment reuses every store entry without running pip, and the
// program runs.
func TestDailyScenario(t *testing.T) {
	wheels := t.TempDir()
	if _, err := fixtures.Wheelhouse(wheels); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		xy    string
		minor int
	}{{"3.10", 10}, {"3.12", 12}} {
		t.Run("py"+tc.xy, func(t *testing.T) {
			base, err := probe.FindPython(tc.xy)
			if err != nil {
				t.Skipf("Python %s is not installed: %v", tc.xy, err)
			}
			home, work := t.TempDir(), t.TempDir()
			envs := filepath.Join(home, "envs")
			if err := os.WriteFile(filepath.Join(work, "requirements.txt"), []byte("# the program and its web stack with dev tools\napp\nwebkit[dev]\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			dailyRun(t, home, work, 0, forgeBin, "create", "app", "--python", tc.xy, "--without-pip") // as the venv pip installs into
			first := parsePipReport(t, dailyRun(t, home, work, 0, forgeBin, "pip", "install", "-r", "requirements.txt",
				"--env", "app", "--no-index", "--find-links", wheels, "--json"))
			if !first.PipRan {
				t.Errorf("first install: pip_ran false, want true (nothing was in the store)")
			}
			if want := []string{"app", "webkit"}; !reflect.DeepEqual(first.Requested, want) {
				t.Errorf("requested %v, want %v", first.Requested, want)
			}
			for _, p := range first.Packages {
				if p.Reused || p.ReuseKind != "none" || p.Verdict != "accept" || p.Layer != "LOCAL" || len(p.Entry) != 64 {
					t.Errorf("first install, %s %s: reused %v (%s), verdict %s, layer %s, entry %q; want new, accept, LOCAL",
						p.Name, p.Version, p.Reused, p.ReuseKind, p.Verdict, p.Layer, p.Entry)
				}
				if want := p.Name == "app" || p.Name == "webkit"; p.Requested != want {
					t.Errorf("%s: requested %v, want %v", p.Name, p.Requested, want)
				}
			}

			// What plain pip installs from the same requirements.
			ref := filepath.Join(t.TempDir(), "ref")
			dailyRun(t, home, work, 0, base, "-m", "venv", "--without-pip", ref)
			dailyRun(t, home, work, 0, base, "-m", "pip", "--python", filepath.Join(ref, "bin", "python"), "install",
				"-r", "requirements.txt", "--no-index", "--find-links", wheels)
			want := pipList(t, home, base, filepath.Join(ref, "bin", "python"))
			appPy := filepath.Join(envs, "app", "bin", "python")
			got := pipList(t, home, base, appPy)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("forge installed %v\npip installed   %v", got, want)
			}
			if fix := fixtures.WheelhouseResolution("app", tc.minor); !reflect.DeepEqual(got, fix) {
				t.Errorf("forge installed %v, the wheelhouse's resolution is %v", got, fix)
			}
			if _, ok := got["tomli"]; ok != (tc.minor < 11) {
				t.Errorf("tomli installed: %v on Python %s; the marker says python_version < \"3.11\"", ok, tc.xy)
			}
			reported := map[string]string{}
			for _, p := range first.Packages {
				reported[strings.ToLower(p.Name)] = p.Version
			}
			if !reflect.DeepEqual(reported, got) {
				t.Errorf("report lists %v, pip list shows %v", reported, got)
			}
			dailyRun(t, home, work, 0, base, "-m", "pip", "--python", appPy, "check")

			// The same set, pinned, into a new environment: all from the store.
			// No --find-links: were pip to run, it would find nothing.
			var pinned []string
			for _, p := range first.Packages {
				pinned = append(pinned, p.Name+"=="+p.Version)
			}
			sort.Strings(pinned)
			if err := os.WriteFile(filepath.Join(work, "pinned.txt"), []byte(strings.Join(pinned, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			dailyRun(t, home, work, 0, forgeBin, "create", "app2", "--python", tc.xy, "--without-pip")
			second := parsePipReport(t, dailyRun(t, home, work, 0, forgeBin, "pip", "install", "-r", "pinned.txt", "--env", "app2", "--no-index", "--json"))
			if second.PipRan {
				t.Errorf("second install: pip_ran true, want false (every pin is in the store)")
			}
			if len(second.Packages) != len(first.Packages) {
				t.Errorf("second install: %d packages, first: %d", len(second.Packages), len(first.Packages))
			}
			entries := map[string]string{}
			for _, p := range first.Packages {
				entries[p.Name] = p.Entry
			}
			for _, p := range second.Packages {
				if !p.Reused || (p.ReuseKind != "exact" && p.ReuseKind != "abi_compatible") {
					t.Errorf("second install, %s %s: reused %v (%s), want reused", p.Name, p.Version, p.Reused, p.ReuseKind)
				}
				if p.Entry != entries[p.Name] {
					t.Errorf("second install, %s: entry %s, first install linked %s", p.Name, p.Entry, entries[p.Name])
				}
			}
			app2Py := filepath.Join(envs, "app2", "bin", "python")
			if got2 := pipList(t, home, base, app2Py); !reflect.DeepEqual(got2, got) {
				t.Errorf("second environment has %v, first %v", got2, got)
			}
			dailyRun(t, home, work, 0, base, "-m", "pip", "--python", app2Py, "check")

			// The program runs, from both environments.
			// app2's pinned file names every package, so all are requested.
			for env, requested := range map[string]string{"app": "True True False", "app2": "True True True"} {
				py := filepath.Join(envs, env, "bin", "python")
				code := `import app, webkit, corelib, importlib.metadata as md
print(app.hello(), "|", webkit.hello(), "|", corelib.VERSION)
print(*[md.distribution(n).read_text("REQUESTED") is not None for n in ("app", "webkit", "corelib")])`
				out := strings.TrimSpace(dailyRun(t, home, work, 0, py, "-c", code))
				if want := "hello from app 1.0 | hello from webkit 2.0 | 1.5\n" + requested; out != want {
					t.Errorf("%s: python says %q, want %q", env, out, want)
				}
				if out := strings.TrimSpace(dailyRun(t, home, work, 0, filepath.Join(envs, env, "bin", "app-cli"))); out != "app-cli 1.0" {
					t.Errorf("%s: app-cli says %q", env, out)
				}
			}
		})
	}
}

// TestDailyPipFailure: pip's own error reaches the user verbatim, exit 1,
// and nothing is linked.
func TestDailyPipFailure(t *testing.T) {
	if _, err := probe.FindPython("3.12"); err != nil {
		t.Skipf("Python 3.12 is not installed: %v", err)
	}
	wheels := t.TempDir()
	if _, err := fixtures.Wheelhouse(wheels); err != nil {
		t.Fatal(err)
	}
	home, work := t.TempDir(), t.TempDir()
	dailyRun(t, home, work, 0, forgeBin, "create", "app", "--python", "3.12", "--without-pip")
	c := exec.Command(forgeBin, "pip", "install", "app", "no-such-project==1.0", "--env", "app", "--no-index", "--find-links", wheels)
	c.Dir, c.Env = work, realstack.ForgeEnv(home)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	err := c.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit %v, want 1\nstderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "ERROR: No matching distribution found for no-such-project==1.0") {
		t.Errorf("pip's error is not shown verbatim:\n%s", stderr.String())
	}
	site, _ := filepath.Glob(filepath.Join(home, "envs", "app", "lib", "python3.12", "site-packages", "*.dist-info"))
	if len(site) != 0 {
		t.Errorf("a failed pip install linked %v", site)
	}
}
