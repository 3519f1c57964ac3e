package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/forge-ml/forge/fixtures"
)

var (
	stampRe = regexp.MustCompile(`\b20[0-9]{6}-[0-9]{6}\b`)
	whenRe  = regexp.MustCompile(`\b20[0-9]{2}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}Z`)
	padRe   = regexp.MustCompile(` {2,}`)
)

// normaliseTimes replaces snapshot stamps and listed times with
// placeholders of the same width, so that columns stay aligned; columns
// holding temporary paths (history's commands) are not, so their padding
// is cut to two spaces.
func normaliseTimes(out string) string {
	out = stampRe.ReplaceAllString(out, "YYYYMMDD-hhmmss")
	out = whenRe.ReplaceAllString(out, "YYYY-MM-DD hh:mm:ssZ")
	if strings.Contains(out, "$WHEELS") {
		out = padRe.ReplaceAllString(out, "  ")
	}
	return out
}

func TestSnapshotRollbackHistoryCLI(t *testing.T) {
	s := newLayeredCLI(t) // app holds numpy 2.0.0 and colorama 0.4.6
	numpy21 := fixtures.WriteWheel(t, s.wheels, fixtures.PurePackage("numpy", "2.1.0"))
	steps := []goldenStep{
		{name: "snapshot", args: []string{"snapshot", "app", "before"}, golden: "snapshot_app.txt"},
		{name: "snapshot name taken", args: []string{"snapshot", "app", "before"}, code: exitError, stderr: "already has a snapshot before"},
		{name: "snapshot bad name", args: []string{"snapshot", "app", ".hidden"}, code: exitUsage, stderr: "not starting with '.'"},
		{name: "snapshot long name", args: []string{"snapshot", "app", strings.Repeat("n", 65)}, code: exitUsage, stderr: "1-64"},
		{name: "snapshot unknown env", args: []string{"snapshot", "nope", "x"}, code: exitError, stderr: "environment nope"},
		{name: "snapshot too many args", args: []string{"snapshot", "app", "a", "b"}, code: exitUsage},
		{name: "upgrade numpy", args: []string{"install", "--env", "app", numpy21, "--quiet"}},
		{name: "drop colorama", args: []string{"uninstall", "colorama", "--env", "app", "--quiet"}},
		{name: "set a setting", args: []string{"env", "set", "app", "abi_policy", "strict_abi", "--quiet"}},
		{name: "failed uninstall", args: []string{"uninstall", "pandas", "--env", "app", "--quiet"}, code: exitError},
		{name: "rollback dry run", args: []string{"rollback", "app", "before", "--dry-run"}, golden: "rollback_app_dry_run.txt"},
		{name: "rollback", args: []string{"rollback", "app", "before"}, golden: "rollback_app.txt"},
		{name: "rollback again", args: []string{"rollback", "app", "before"}, golden: "rollback_app_again.txt"},
		{name: "rollback unknown snapshot", args: []string{"rollback", "app", "nope"}, code: exitError, stderr: "no snapshot nope"},
		{name: "rollback bad name", args: []string{"rollback", "app", "a/b"}, code: exitUsage},
		{name: "snapshots", args: []string{"snapshots", "app"}, golden: "snapshots_app.txt"},
		{name: "snapshot rm unknown", args: []string{"snapshot", "rm", "app", "nope"}, code: exitError, stderr: "no snapshot nope"},
		{name: "snapshot rm", args: []string{"snapshot", "rm", "app", "before"}, golden: "snapshot_rm_app.txt"},
		{name: "history", args: []string{"history", "app"}, golden: "history_app.txt"},
		{name: "history unknown env", args: []string{"history", "nope"}, code: exitError, stderr: "environment nope"},
	}
	s.runSteps(t, steps, func(out string) string { return normaliseTimes(s.normalise(out)) })
	t.Run("json", func(t *testing.T) {
		decode := func(args ...string) map[string]any {
			t.Helper()
			out, errOut, code := s.run(append(args, "--json")...)
			if code != 0 {
				t.Fatalf("forge %s --json: exit %d\n%s", strings.Join(args, " "), code, errOut)
			}
			var v any
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, out)
			}
			return checkShape(t, strings.Join(args, " "), v, jsonShape{})
		}
		sn := checkShape(t, "snapshot", decode("snapshot", "app", "j1"), jsonShape{"env": "string", "name": "string", "auto": "bool",
			"created": "string", "settings": "object", "entries": "array"})
		eachItem(t, "entries", sn["entries"], jsonShape{"norm_name": "string", "name": "string", "version": "string", "entry": "string",
			"link_mode": "string", "requested": "bool"})
		ss := checkShape(t, "snapshots", decode("snapshots", "app"), jsonShape{"env": "string", "snapshots": "array"})
		eachItem(t, "snapshots", ss["snapshots"], jsonShape{"env": "string", "name": "string", "auto": "bool", "created": "string", "settings": "object", "entries": "array"})
		rb := checkShape(t, "rollback", decode("rollback", "app", "j1", "--dry-run"), jsonShape{"env": "string", "snapshot": "string", "dry_run": "bool",
			"add": "array", "remove": "array", "keep": "array", "settings": "array"})
		eachItem(t, "keep", rb["keep"], jsonShape{"name": "string", "version": "string", "entry": "string"})
		h := checkShape(t, "history", decode("history", "app"), jsonShape{"env": "string", "operations": "array"})
		ops := eachItem(t, "operations", h["operations"], jsonShape{"id": "number", "env": "string", "started": "string", "finished": "string?",
			"forge_version": "string", "command": "string", "pid": "number", "status": "string", "changes": "object"})
		for _, op := range ops {
			checkShape(t, "changes", op["changes"], jsonShape{"added": "array", "removed": "array", "changed": "array"})
			if op["forge_version"] != version {
				t.Errorf("forge_version %v, want %s", op["forge_version"], version)
			}
		}
	})
}

// TestRollbackKilledCLI kills forge (FORGE_TEST_FAULT) between a
// rollback's unlinks and its links: doctor reports rollback_interrupted,
// doctor --fix finishes it, and history shows the rollback as did not
// finish.
func TestRollbackKilledCLI(t *testing.T) {
	if args := os.Getenv("FORGE_TEST_MAIN_ARGS"); args != "" {
		os.Exit(Main(strings.Split(args, "\x1f"), os.Stdout, os.Stderr))
	}
	s := newLayeredCLI(t)
	numpy21 := fixtures.WriteWheel(t, s.wheels, fixtures.PurePackage("numpy", "2.1.0"))
	for _, args := range [][]string{{"snapshot", "app", "before"}, {"install", "--env", "app", numpy21}} {
		if out, errOut, code := s.run(args...); code != 0 {
			t.Fatalf("forge %v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRollbackKilledCLI$")
	cmd.Env = append(os.Environ(), "FORGE_TEST_FAULT=rollback-unlinked",
		"FORGE_TEST_MAIN_ARGS="+strings.Join([]string{"--home", s.home, "rollback", "app", "before"}, "\x1f"))
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 137 {
		t.Fatalf("killed rollback: %v\n%s", err, out)
	}
	stdout, _, _ := s.run("doctor")
	if !strings.Contains(stdout, "rollback_interrupted") {
		t.Fatalf("doctor after the kill:\n%s", stdout)
	}
	if stdout, errOut, code := s.run("doctor", "--fix"); code != 0 || !strings.Contains(stdout, "finish rolling environment app back to snapshot before") {
		t.Fatalf("doctor --fix: exit %d\n%s%s", code, stdout, errOut)
	}
	stdout, _, _ = s.run("inspect", "numpy", "--env", "app")
	if !strings.Contains(stdout, "2.0.0") || strings.Contains(stdout, "2.1.0") {
		t.Errorf("numpy after doctor --fix:\n%s", stdout)
	}
	stdout, _, _ = s.run("history", "app")
	var rollback, doctor string
	for _, l := range strings.Split(stdout, "\n") {
		switch {
		case strings.Contains(l, "forge rollback app before"):
			rollback = l
		case strings.Contains(l, "forge doctor --fix"):
			doctor = l
		}
	}
	if !strings.HasSuffix(strings.TrimSpace(rollback), "did not finish") {
		t.Errorf("the killed rollback in history: %q\n%s", rollback, stdout)
	}
	if !strings.Contains(doctor, "+numpy 2.0.0") || !strings.HasSuffix(strings.TrimSpace(doctor), "ok") {
		t.Errorf("doctor's finishing in history: %q\n%s", doctor, stdout)
	}
}
