package lifecycle

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/forge-ml/forge/probe"
)

// TestLockExport: a parent with a native extension and GLOBAL, a child
// environment shadowing one package; forge lock's file read by Python's
// own tomllib must list what the child's interpreter imports (checked from
// Python: the version each module reports) with the sha256 of each wheel
// file; abi matrix --lock reads it back from a fresh home (ingesting the
// locked paths); the exported requirements install with pip
// --require-hashes into a plain venv where the modules import.
func TestLockExport(t *testing.T) {
	exe, err := probe.FindPython("3.12")
	if err != nil {
		t.Skipf("Python 3.12 not installed: %v", err)
	}
	tomlPy, err := probe.FindPython("3.11")
	if err != nil {
		t.Skipf("Python 3.11 (tomllib) not installed: %v", err)
	}
	py, err := probe.Interpreter(exe)
	if err != nil {
		t.Fatal(err)
	}
	w := buildWheels(t, py)
	home := t.TempDir()
	mustForge(t, home, "create", "base", "--python", exe, "--without-pip")
	mustForge(t, home, "install", "--env", "base", w.pure, w.native)
	mustForge(t, home, "install", "--env", "base", "--global", w.data)
	mustForge(t, home, "create", "app", "--parent", "base", "--without-pip")
	mustForge(t, home, "install", "--env", "app", w.pure2)

	lock := filepath.Join(t.TempDir(), "pylock.toml")
	mustForge(t, home, "lock", "--env", "app", "-o", lock)
	out := mustRun(t, tomlPy, "-c", `
import sys, tomllib
d = tomllib.load(open(sys.argv[1], "rb"))
assert d["lock-version"] == "1.0" and d["created-by"] == "forge", d
for p in d["packages"]:
    w = p["wheels"][0]
    print(p["name"], p["version"], p["tool"]["forge"]["layer"], w["hashes"]["sha256"], w["path"])
`, lock)
	// What the child's interpreter imports, asked of it: the lock must say the same.
	imported := mustRun(t, filepath.Join(home, "envs", "app", "bin", "python"), "-c",
		"import demo, fastmod, datapkg, importlib.metadata as m; print(' '.join(n + '==' + m.version(n) for n in ('datapkg', 'demo', 'fastmod')))")
	if imported != "datapkg==1.5 demo==2.0 fastmod==0.3" {
		t.Fatalf("the environment imports %s", imported)
	}
	want := map[string]struct{ version, layer, file string }{
		"datapkg": {"1.5", "GLOBAL", w.data},
		"demo":    {"2.0", "LOCAL", w.pure2}, // not base's 1.0
		"fastmod": {"0.3", "base", w.native},
	}
	lines := strings.Split(out, "\n")
	if len(lines) != len(want) {
		t.Fatalf("tomllib read %d packages:\n%s", len(lines), out)
	}
	for _, line := range lines {
		f := strings.Fields(line)
		wt, ok := want[f[0]]
		if !ok || f[1] != wt.version || f[2] != wt.layer || f[4] != wt.file || f[3] != fileSHA(t, wt.file) {
			t.Errorf("locked %q, want %+v with the file's sha256", line, wt)
		}
	}

	// From a fresh home: every wheel ingested from its locked path.
	fleet := t.TempDir()
	prof := filepath.Join(fleet, "here.json")
	if err := os.WriteFile(prof, []byte(mustForge(t, home, "--json", "probe", "--python", exe)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := forge(t, t.TempDir(), "--json", "abi", "matrix", "--lock", lock, "--profiles", prof)
	var rep struct {
		Rows []struct {
			Name  string `json:"name"`
			Entry string `json:"entry"`
			Cells []struct {
				Verdict string `json:"verdict"`
			} `json:"cells"`
		} `json:"rows"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 || len(rep.Rows) != 3 {
		t.Fatalf("abi matrix --lock: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	for _, row := range rep.Rows {
		if row.Entry != fileSHA(t, want[row.Name].file) || len(row.Cells) != 1 || row.Cells[0].Verdict == "refuse" {
			t.Errorf("row %+v", row)
		}
	}

	// requirements → a plain venv through pip --require-hashes.
	reqs := filepath.Join(t.TempDir(), "requirements.txt")
	mustForge(t, home, "export", "app", "--format", "requirements", "-o", reqs)
	venv := filepath.Join(t.TempDir(), "venv")
	mustRun(t, exe, "-m", "venv", venv)
	mustRun(t, filepath.Join(venv, "bin", "python"), "-m", "pip", "install", "--require-hashes", "--no-index", "--find-links", w.dir, "-r", reqs)
	if got := mustRun(t, filepath.Join(venv, "bin", "python"), "-c", "import demo, fastmod, datapkg; import importlib.metadata as m; print(m.version('demo'))"); got != "2.0" {
		t.Fatalf("the venv has demo %s, want 2.0", got)
	}
}

func fileSHA(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
