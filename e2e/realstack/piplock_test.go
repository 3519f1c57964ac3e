package realstack

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/forge-ml/forge/fixtures/realstack"
	"github.com/forge-ml/forge/probe"
)

// TestPipLockSyncs has the real pip write a PEP 751 lock (`pip lock`, pip
// 25.1 from Debian's python3-pip-whl in the corpus) of two NVIDIA wheels,
// and forge sync it into an environment: the environment must see what a
// pip install of the same requirements sees, and a lock whose hash was
// tampered with must be refused (exit 4) with nothing linked.
func TestPipLockSyncs(t *testing.T) {
	c := corpus(t)
	pips, _ := filepath.Glob(filepath.Join(realstack.RootDir(c.cache), "usr/share/python-wheels/pip-*.whl"))
	if len(pips) == 0 {
		t.Skip("the corpus has no pip wheel (python3-pip-whl)")
	}
	py, err := probe.FindPython("3.12")
	if err != nil {
		t.Skipf("no Python 3.12: %v", err)
	}
	dir := t.TempDir()
	wheels := filepath.Join(dir, "wheels")
	if err := os.Mkdir(wheels, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, w := range c.wheels {
		if b := filepath.Base(w); strings.HasPrefix(b, "nvidia_nvjitlink_cu12-") || strings.HasPrefix(b, "nvidia_cuda_runtime_cu12-") {
			if err := os.Symlink(w, filepath.Join(wheels, b)); err != nil {
				t.Fatal(err)
			}
		}
	}
	run := func(env []string, name string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), append(env, "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_INPUT=1")...)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s %v: %v", name, args, err)
		}
		return string(out), 0
	}
	must := func(out string, code int) string {
		t.Helper()
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		return out
	}

	// pip's own venv, with pip 25 (the version that writes locks).
	venv := filepath.Join(dir, "pipvenv")
	vpy := filepath.Join(venv, "bin", "python")
	must(run(nil, py, "-m", "venv", venv))
	must(run(nil, vpy, "-m", "pip", "install", "-q", "--no-index", pips[0]))
	reqs := []string{"nvidia-nvjitlink-cu12", "nvidia-cuda-runtime-cu12"}
	lock := filepath.Join(dir, "pylock.toml")
	must(run(nil, vpy, append([]string{"-m", "pip", "lock", "--no-index", "--find-links", wheels, "-o", lock}, reqs...)...))
	data, err := os.ReadFile(lock)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `created-by = "pip"`) {
		t.Fatalf("not a lock pip wrote:\n%s", data)
	}
	must(run(nil, vpy, append([]string{"-m", "pip", "install", "-q", "--no-index", "--find-links", wheels}, reqs...)...))

	home := []string{"FORGE_HOME=" + filepath.Join(dir, "home")}
	must(run(home, forgeBin, "create", "app", "--python", py, "--without-pip", "-q"))
	must(run(home, forgeBin, "sync", lock, "--env", "app"))
	view := `import importlib.metadata as m; print(sorted((d.metadata["Name"], d.version) for d in m.distributions() if d.metadata["Name"] != "pip"))`
	got := must(run(home, filepath.Join(dir, "home", "envs", "app", "bin", "python"), "-c", view))
	want := must(run(nil, vpy, "-c", view))
	if got != want || !strings.Contains(got, "nvidia-nvjitlink-cu12") {
		t.Fatalf("forge sync of pip's lock sees %s; pip install sees %s", got, want)
	}

	// One digit of one hash changed: refused before anything is linked.
	bad := filepath.Join(dir, "bad.toml")
	sha := regexp.MustCompile(`sha256 = "([0-9a-f])`)
	tampered := sha.ReplaceAllStringFunc(string(data), func(s string) string {
		if strings.HasSuffix(s, `"0`) {
			return s[:len(s)-1] + "1"
		}
		return s[:len(s)-1] + "0"
	})
	if err := os.WriteFile(bad, []byte(tampered), 0o644); err != nil {
		t.Fatal(err)
	}
	must(run(home, forgeBin, "create", "t", "--python", py, "--without-pip", "-q"))
	site := func() []string {
		ents, err := filepath.Glob(filepath.Join(dir, "home", "envs", "t", "lib", "python3.12", "site-packages", "*"))
		if err != nil {
			t.Fatal(err)
		}
		return ents
	}
	before := site()
	out, code := run(home, forgeBin, "sync", bad, "--env", "t")
	if code != 4 || !strings.Contains(out, "integrity failure") {
		t.Fatalf("sync of a tampered lock: exit %d\n%s", code, out)
	}
	if after := site(); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Fatalf("a refused sync changed site-packages: %v -> %v", before, after)
	}
}
