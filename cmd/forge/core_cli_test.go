package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/forge-ml/forge/fixtures"
)

// TestCoreCommands drives create, install, uninstall, activate and version
// through Main: text output against golden files, every --json output
// against its shape, and the exit codes.
func TestCoreCommands(t *testing.T) {
	s, exe := newEmptyCLI(t)
	demo := fixtures.WriteWheel(t, s.wheels, fixtures.PurePackage("demo", "1.0"))
	extra := fixtures.WriteWheel(t, s.wheels, fixtures.PurePackage("extra", "0.1"))
	text := func(t *testing.T, code int, args ...string) (string, string) {
		t.Helper()
		out, errOut, got := s.run(args...)
		if got != code {
			t.Fatalf("forge %s: exit %d, want %d\n%s%s", strings.Join(args, " "), got, code, out, errOut)
		}
		return s.normalise(out), errOut
	}
	doc := func(t *testing.T, code int, args ...string) map[string]any {
		t.Helper()
		out, errOut, got := s.run(append(args, "--json")...)
		if got != code {
			t.Fatalf("forge %s --json: exit %d, want %d\n%s", strings.Join(args, " "), got, code, errOut)
		}
		dec := json.NewDecoder(strings.NewReader(out))
		var v map[string]any
		if err := dec.Decode(&v); err != nil || dec.More() {
			t.Fatalf("stdout is not one JSON document (%v):\n%s", err, out)
		}
		return v
	}
	pkgShape := jsonShape{"name": "string", "version": "string", "entry": "string", "reused": "bool", "reuse_kind": "string",
		"layer": "string", "link_mode": "string", "verdict": "string", "findings": "array"}

	out, _ := text(t, 0, "create", "base", "--python", exe)
	checkGolden(t, "golden", "create.txt", pyPatchRe.ReplaceAllString(out, "3.12.x"))
	m := doc(t, 0, "create", "app", "--parent", "base")
	checkShape(t, "create", m, jsonShape{"name": "string", "path": "string", "parent": "string", "python": "string", "python_version": "string", "site_packages": "string"})
	if m["parent"] != "base" {
		t.Errorf("create --json parent = %v", m["parent"])
	}

	out, _ = text(t, 0, "install", "--env", "base", demo)
	checkGolden(t, "golden", "install_new.txt", out)
	m = doc(t, 0, "install", "--env", "app", demo, extra)
	checkShape(t, "install", m, jsonShape{"env": "string", "host": "string", "policy": "string", "packages": "array"})
	pkgs := eachItem(t, "packages", m["packages"], pkgShape)
	if len(pkgs) != 2 || pkgs[0]["reused"] != true || pkgs[0]["reuse_kind"] != "exact" || pkgs[1]["reuse_kind"] != "none" {
		t.Errorf("install --json packages: %v", pkgs)
	}
	out, _ = text(t, 0, "install", "--env", "app", demo)
	checkGolden(t, "golden", "install_again.txt", out)

	m = doc(t, 0, "activate", "app")
	checkShape(t, "activate", m, jsonShape{"virtual_env": "string", "path": "array", "pythonpath": "array", "pycache_prefix": "string"})
	out, _ = text(t, 0, "activate", "app", "--shell", "bash")
	checkGolden(t, "golden", "activate.txt", out)

	out, _ = text(t, 0, "uninstall", "extra", "--env", "app")
	checkGolden(t, "golden", "uninstall.txt", out)
	m = doc(t, 0, "uninstall", "demo", "--env", "app")
	checkShape(t, "uninstall", m, jsonShape{"env": "string", "removed": "array"})
	eachItem(t, "removed", m["removed"], jsonShape{"name": "string", "version": "string", "entry": "string", "layer": "string"})

	checkShape(t, "version", doc(t, 0, "version"), jsonShape{"version": "string", "go": "string", "os": "string", "arch": "string"})

	// Errors: usage (2), unknown environment (1), integrity (4); with
	// --json stdout still holds exactly one document.
	for _, tc := range []struct {
		args []string
		code int
		say  string
	}{
		{[]string{"install", demo}, exitUsage, "env"},
		{[]string{"install", "--env", "app", "--local", "--global", demo}, exitUsage, "exclude"},
		{[]string{"install", "--env", "app", "--link-mode", "reflink", demo}, exitUsage, "link mode"},
		{[]string{"install", "--env", "nosuch", demo}, exitError, "nosuch"},
		{[]string{"install", "--env", "app", "ghost==1.0"}, exitError, "not in the store"},
		{[]string{"uninstall", "ghost", "--env", "app"}, exitError, "not installed"},
		{[]string{"create", "bad/name"}, exitUsage, "environment name"},
		{[]string{"create", "app"}, exitError, "already exists"},
		{[]string{"frobnicate"}, exitUsage, "unknown command"},
	} {
		_, errOut, code := s.run(tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.say) {
			t.Errorf("forge %s: exit %d (want %d), stderr %q (want %q)", strings.Join(tc.args, " "), code, tc.code, errOut, tc.say)
		}
		m := doc(t, tc.code, tc.args...)
		checkShape(t, "error of "+strings.Join(tc.args, " "), m, jsonShape{"error": "string", "exit_code": "number"})
	}
	var bad string
	for _, h := range fixtures.HostileWheels() {
		if h.Name == "crc" {
			bad = s.wheels + "/" + h.Filename
			if err := os.WriteFile(bad, h.Data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, errOut, code := s.run("install", "--env", "app", bad)
	if code != exitIntegrity || !strings.Contains(errOut, "checksum") {
		t.Errorf("corrupt wheel: exit %d, stderr %q", code, errOut)
	}
}
