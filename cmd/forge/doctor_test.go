package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/workspace"
	"github.com/forge-ml/forge/workspace/doctor"
)

// doctorHome is a forge home with environment "app" (Python 3.12) holding
// alpha 1.0, and beta 2.0 ingested but not installed.
func doctorHome(t *testing.T) (home string, run func(args ...string) (string, string, int)) {
	t.Helper()
	s, exe := newEmptyCLI(t)
	alpha := fixtures.WriteWheel(t, s.wheels, fixtures.DataPackage("alpha", "1.0"))
	beta := fixtures.WriteWheel(t, s.wheels, fixtures.PurePackage("beta", "2.0"))
	for _, args := range [][]string{
		{"create", "app", "--python", exe, "--without-pip"},
		{"install", "--env", "app", alpha, beta},
		{"uninstall", "--env", "app", "beta"},
	} {
		if out, errOut, code := s.run(args...); code != 0 {
			t.Fatalf("forge %v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
	return s.home, s.run
}

func TestDoctorAndGCGolden(t *testing.T) {
	home, run := doctorHome(t)
	norm := func(s string) string { return strings.ReplaceAll(s, home, "$FORGE_HOME") }
	tests := []struct {
		name   string
		args   []string
		golden string
	}{
		{name: "doctor on a clean store", args: []string{"doctor", "--verify"}, golden: "clean.txt"},
		{name: "gc dry run", args: []string{"gc"}, golden: "gc_dry_run.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := run(tt.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			checkGolden(t, "doctor", tt.golden, norm(out))
		})
	}
}

// jsonKeys checks that doc has each key with a value of the given JSON
// type: "string", "number", "bool", "object", "array".
func jsonKeys(t *testing.T, what string, doc map[string]any, keys map[string]string) {
	t.Helper()
	for k, typ := range keys {
		v, ok := doc[k]
		if !ok {
			t.Errorf("%s: key %q missing", what, k)
			continue
		}
		var got string
		switch v.(type) {
		case string:
			got = "string"
		case float64:
			got = "number"
		case bool:
			got = "bool"
		case map[string]any:
			got = "object"
		case []any:
			got = "array"
		}
		if got != typ {
			t.Errorf("%s: %q is %T, want %s", what, k, v, typ)
		}
	}
}

func TestDoctorCLI(t *testing.T) {
	home, run := doctorHome(t)
	ws, err := workspace.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if _, err := ws.Store.DB().Exec(`UPDATE entries SET refs = 5 WHERE norm_name = 'alpha'`); err != nil {
		t.Fatal(err)
	}

	out, _, code := run("doctor", "--json")
	if code != 0 {
		t.Fatalf("doctor with issues, no --enforce: exit %d", code)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, out)
	}
	jsonKeys(t, "doctor", doc, map[string]string{
		"home": "string", "verified": "bool", "metadata_rows_scanned": "number", "envs_scanned": "number",
		"entries_scanned": "number", "links_scanned": "number", "files_verified": "number",
		"issues_by_kind": "object", "issues": "array", "planned": "array", "applied": "array",
		"failed": "array", "remaining": "array",
	})
	issues, _ := doc["issues"].([]any)
	if len(issues) != 1 {
		t.Fatalf("issues %v", issues)
	}
	is, _ := issues[0].(map[string]any)
	jsonKeys(t, "issue", is, map[string]string{"kind": "string", "entry": "string", "message": "string", "fixable": "bool", "fix": "string"})
	if is["kind"] != doctor.KindRefcount {
		t.Errorf("issue kind %v", is["kind"])
	}

	steps := []struct {
		name string
		args []string
		code int
		has  string // in stdout
	}{
		{name: "usage: dry run without fix", args: []string{"doctor", "--dry-run"}, code: exitUsage},
		{name: "enforce with an issue", args: []string{"doctor", "--enforce"}, code: exitRefused, has: "refcount"},
		{name: "dry run plans", args: []string{"doctor", "--fix", "--dry-run", "--enforce"}, code: exitRefused, has: "dry run: nothing changed"},
		{name: "fix", args: []string{"doctor", "--fix", "--enforce"}, code: exitOK, has: "remaining issues: 0"},
		{name: "clean after fix", args: []string{"doctor", "--enforce"}, code: exitOK, has: "no issues found"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			out, errOut, code := run(s.args...)
			if code != s.code || !strings.Contains(out, s.has) {
				t.Errorf("exit %d (want %d)\n%s%s", code, s.code, out, errOut)
			}
		})
	}

	t.Run("tampered byte fails verification with exit 4", func(t *testing.T) {
		es, _ := ws.Store.Find(t.Context(), "alpha", "")
		p := filepath.Join(ws.Store.EntryDir(es[0].SHA256), "alpha", "__init__.py")
		os.Chmod(p, 0o644)
		b, _ := os.ReadFile(p)
		b[0] ^= 0x20
		os.WriteFile(p, b, 0o444)
		os.Chmod(p, 0o444)
		if out, errOut, code := run("doctor"); code != exitOK {
			t.Errorf("without --verify a same-size change goes unseen: exit %d\n%s%s", code, out, errOut)
		}
		out, _, code := run("doctor", "--verify", "--json")
		if code != exitIntegrity {
			t.Errorf("exit %d, want %d", code, exitIntegrity)
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("one JSON document expected: %v\n%s", err, out)
		}
		if k, _ := doc["issues_by_kind"].(map[string]any); k[doctor.KindHashMismatch] != float64(1) {
			t.Errorf("issues_by_kind %v", doc["issues_by_kind"])
		}
	})
}

func TestGCCLI(t *testing.T) {
	_, run := doctorHome(t)
	out, _, code := run("gc", "--json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	jsonKeys(t, "gc", doc, map[string]string{"dry_run": "bool", "entries": "array", "total_bytes": "number", "removed": "number", "bytes_freed": "number", "staging": "array"})
	ents, _ := doc["entries"].([]any)
	if len(ents) != 1 {
		t.Fatalf("entries %v", ents)
	}
	e, _ := ents[0].(map[string]any)
	jsonKeys(t, "gc entry", e, map[string]string{"name": "string", "version": "string", "sha256": "string", "size": "number", "removed": "bool"})
	if e["name"] != "beta" || doc["dry_run"] != true {
		t.Errorf("gc --json: %s", out)
	}
	if _, _, code := run("gc", "--dry-run", "--force"); code != exitUsage {
		t.Errorf("--dry-run --force: exit %d", code)
	}
	out, errOut, code := run("gc", "--force")
	if code != 0 || !strings.Contains(out, "removed  beta") || !strings.Contains(out, "freed") {
		t.Errorf("gc --force: exit %d\n%s%s", code, out, errOut)
	}
	if out, _, _ := run("gc"); !strings.Contains(out, "no unreferenced store entries") {
		t.Errorf("gc after --force: %s", out)
	}
}

func TestDoctorABICLI(t *testing.T) {
	_, run := doctorHome(t)
	profile := filepath.Join(t.TempDir(), "a100.json")
	b, err := fixtures.ProfileJSON("a100-driver535")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(profile, b, 0o644)
	out, errOut, code := run("doctor", "--abi", "--host-profile", profile, "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	jsonKeys(t, "doctor --abi", doc, map[string]string{"envs": "array", "packages_checked": "number", "accepted": "number", "warned": "number", "refused": "number"})
	envs, _ := doc["envs"].([]any)
	if len(envs) != 1 {
		t.Fatalf("envs %v", envs)
	}
	e, _ := envs[0].(map[string]any)
	jsonKeys(t, "doctor --abi env", e, map[string]string{"env": "string", "python": "string", "host": "string", "policy": "string", "verdict": "string", "packages": "array"})
	pk, _ := e["packages"].([]any)
	if len(pk) != 1 {
		t.Fatalf("packages %v", pk)
	}
	jsonKeys(t, "doctor --abi package", pk[0].(map[string]any), map[string]string{"name": "string", "version": "string", "entry": "string", "layer": "string", "verdict": "string", "findings": "array"})
	if _, _, code := run("doctor", "--abi", "--fix"); code != exitUsage {
		t.Errorf("--abi --fix: exit %d", code)
	}
}
