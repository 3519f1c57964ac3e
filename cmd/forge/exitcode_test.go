package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/resolver"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
)

// TestExitCode: the code follows the error's kind, never its text. The
// texts below contain every phrase the old substring match took for a
// usage error.
func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"plain", errors.New("boom"), exitError},
		{"invalid wheel naming 'unknown command'", fmt.Errorf(`wheel x.whl: member "unknown command\\x.py": backslash in path: %w`, store.ErrInvalid), exitError},
		{"syscall error saying 'invalid argument'", fmt.Errorf("x 1.0: open bin/a\x00b: invalid argument"), exitError},
		{"text saying 'accepts '", errors.New("the server accepts 3 connections"), exitError},
		{"usage error", usagef("--local and --global exclude each other"), exitUsage},
		{"workspace usage", fmt.Errorf("setting x: %w", workspace.ErrUsage), exitUsage},
		{"wrapped usage error", fmt.Errorf("ctx: %w", usageError{errors.New("accepts 1 arg(s)")}), exitUsage},
		{"integrity", fmt.Errorf("wheel x: %w", store.ErrCorrupt), exitIntegrity},
		{"abi refusal", fmt.Errorf("x: %w", abi.ErrIncompatible), exitRefused},
		{"strict conflict", fmt.Errorf("install: %w", &resolver.ConflictError{}), exitRefused},
		{"bare conflict", resolver.ErrConflict, exitRefused},
		{"explicit code", codeError{exitRefused, errors.New("--enforce")}, exitRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := exitCode(tc.err); got != tc.want {
				t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

// TestCobraUsageErrors: each way cobra refuses a command line is a usage
// error (exit 2), through Main.
func TestCobraUsageErrors(t *testing.T) {
	home := t.TempDir()
	for _, tc := range []struct {
		args []string
		say  string
	}{
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"--bogus", "version"}, "unknown flag"},
		{[]string{"version", "-Z"}, "unknown shorthand flag"},
		{[]string{"version", "extra"}, "unknown command"},
		{[]string{"create"}, "accepts 1 arg"},
		{[]string{"create", "a", "b"}, "accepts 1 arg"},
		{[]string{"env", "set", "a"}, "accepts 3 arg"},
		{[]string{"install", "x-1.0-py3-none-any.whl"}, `required flag(s) "env" not set`},
		{[]string{"uninstall", "x"}, `required flag(s) "env" not set`},
		{[]string{"install", "--env"}, "flag needs an argument"},
		{[]string{"--quiet=maybe", "version"}, "invalid argument"},
		{[]string{"completion", "bash", "extra"}, "unknown command"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(append([]string{"--home", home}, tc.args...), &out, &errOut)
			if code != exitUsage || !strings.Contains(errOut.String(), tc.say) {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", code, exitUsage, errOut.String(), tc.say)
			}
		})
	}
}

// newAppCLI is a forge home with environment "app" (Python 3.12), and in
// its wheel directory a pure wheel 1.0 of each name, not installed; it
// returns the wheels' paths in order.
func newAppCLI(t *testing.T, names ...string) (*layeredCLI, []string) {
	t.Helper()
	s, exe := newEmptyCLI(t)
	var wheels []string
	for _, n := range names {
		wheels = append(wheels, fixtures.WriteWheel(t, s.wheels, fixtures.PurePackage(n, "1.0")))
	}
	if _, errOut, code := s.run("create", "app", "--python", exe); code != 0 {
		t.Fatalf("create: exit %d: %s", code, errOut)
	}
	return s, wheels
}

// TestErrorTextIsNotUsage installs wheels whose errors carry the phrases
// the old substring match read as usage: a member named "unknown
// command\x.py" (refused by the store) and an entry point whose name holds
// a NUL byte (the kernel said "invalid argument"; the linker now refuses
// the name first). Both exit 1.
func TestErrorTextIsNotUsage(t *testing.T) {
	s, _ := newAppCLI(t)
	member := fixtures.PurePackage("textmember", "1.0", fixtures.WithFiles(fixtures.File{Name: `textmember/unknown command\x.py`, Data: []byte("X = 1\n")}))
	nul := fixtures.PurePackage("textentry", "1.0")
	nul.EntryPoints = map[string]map[string]string{"console_scripts": {"bad\x00name": "textentry:main"}}
	for _, tc := range []struct {
		w   fixtures.Wheel
		say string
	}{
		{member, "unknown command"},
		{nul, `entry point "bad\x00name": a script name cannot contain control characters`},
	} {
		t.Run(tc.w.Name, func(t *testing.T) {
			_, errOut, code := s.run("install", "--env", "app", fixtures.WriteWheel(t, s.wheels, tc.w))
			if code != exitError || !strings.Contains(errOut, tc.say) {
				t.Errorf("exit %d (want %d), stderr %q (want it to say %q)", code, exitError, errOut, tc.say)
			}
		})
	}
}

// TestUninstallAbsentNames: through Main, a name that is not installed is
// reported on stderr and in --json's not_installed while the others are
// removed (exit 0); when none is installed, exit 1.
func TestUninstallAbsentNames(t *testing.T) {
	s, wheels := newAppCLI(t, "una", "dos")
	if _, errOut, code := s.run(append([]string{"install", "--env", "app"}, wheels...)...); code != 0 {
		t.Fatalf("install: exit %d: %s", code, errOut)
	}
	out, errOut, code := s.run("uninstall", "ghost", "una", "--env", "app")
	if code != 0 || !strings.Contains(out, "removed una 1.0") || !strings.Contains(errOut, "ghost was not installed") {
		t.Errorf("uninstall ghost una: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = s.run("uninstall", "una", "dos", "--env", "app", "--json")
	if code != 0 {
		t.Fatalf("uninstall una dos --json: exit %d: %s", code, errOut)
	}
	m := checkShape(t, "uninstall", decodeOne(t, out), jsonShape{"env": "string", "removed": "array", "not_installed": "array"})
	if na := m["not_installed"].([]any); len(na) != 1 || na[0] != "una" {
		t.Errorf("not_installed = %v, want [una]", na)
	}
	if _, errOut, code := s.run("uninstall", "una", "dos", "--env", "app"); code != exitError || !strings.Contains(errOut, "una, dos are not installed") {
		t.Errorf("nothing installed: exit %d, stderr %q", code, errOut)
	}
}

func decodeOne(t *testing.T, out string) any {
	t.Helper()
	var v any
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&v); err != nil || dec.More() {
		t.Fatalf("stdout is not one JSON document (%v):\n%s", err, out)
	}
	return v
}

// TestInstallPrintsWhatHappened: when linking fails (here a file of the
// user's stands where the second package goes; a full disk fails a copy
// the same way), the package that did not get in is printed "not
// installed", never "installed", before the error.
func TestInstallPrintsWhatHappened(t *testing.T) {
	s, wheels := newAppCLI(t, "primero", "segundo")
	site, err := filepath.Glob(filepath.Join(s.home, "envs", "app", "lib", "python3.12", "site-packages"))
	if err != nil || len(site) != 1 {
		t.Fatalf("site-packages: %v %v", site, err)
	}
	if err := os.WriteFile(filepath.Join(site[0], fixtures.ImportName("segundo")), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := s.run(append([]string{"install", "--env", "app", "--link-mode", "copy"}, wheels...)...)
	if code != exitError || !strings.Contains(out, "installed primero 1.0") || !strings.Contains(out, "not installed segundo 1.0") ||
		strings.Contains(strings.ReplaceAll(out, "not installed", ""), "installed segundo") || !strings.Contains(errOut, "segundo") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
