package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/forge-ml/forge/fixtures"
)

// TestSyncCLI drives forge sync through Main: the plan as text and JSON,
// the change, and the README's exit codes for what it refuses.
func TestSyncCLI(t *testing.T) {
	s, _ := newEmptyCLI(t)
	home, run := s.home, s.run
	otherDir := t.TempDir()
	var wheels []string
	for _, w := range []fixtures.Wheel{fixtures.PurePackage("alpha", "1.0", fixtures.WithRequires("beta")), fixtures.PurePackage("beta", "2.0")} {
		wheels = append(wheels, fixtures.WriteWheel(t, s.wheels, w))
	}
	gamma := fixtures.WriteWheel(t, otherDir, fixtures.PurePackage("gamma", "0.1"))
	lockPath := filepath.Join(t.TempDir(), "pylock.toml")
	for _, args := range [][]string{
		{"create", "app", "--python", "3.12", "--without-pip"},
		append([]string{"install", "--env", "app"}, wheels...),
		{"lock", "--env", "app", "-o", lockPath},
		{"create", "dst", "--python", "3.12", "--without-pip"},
		{"install", "--env", "dst", gamma},
	} {
		if _, errOut, code := run(args...); code != 0 {
			t.Fatalf("forge %v: exit %d: %s", args, code, errOut)
		}
	}
	// beta's path swapped for another wheel of the same name: exit 4 in a
	// home that does not have beta yet.
	other := fixtures.WriteWheel(t, otherDir, fixtures.PurePackage("beta", "2.0", fixtures.WithRequires("six")))
	data, err := os.ReadFile(lockPath)
	if err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(t.TempDir(), "pylock.toml")
	if err := os.WriteFile(tampered, []byte(strings.ReplaceAll(string(data), wheels[1], other)), 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := t.TempDir()
	if _, errOut, code := forgeRunner(fresh)("create", "far", "--python", "3.12", "--without-pip"); code != 0 {
		t.Fatalf("create far: %s", errOut)
	}

	tests := []struct {
		name string
		home string
		args []string
		code int
		want []string // in stdout+stderr
	}{
		{"dry run", home, []string{"sync", lockPath, "--env", "dst", "--dry-run"}, 0,
			[]string{"add     alpha 1.0\n", "add     beta 2.0\n", "remove  gamma 0.1\n", "dry run: syncing dst to " + lockPath + " would add 2, remove 1, keep 0, fetch 0; nothing changed"}},
		{"truncated", home, []string{"sync", "../../lockfile/testdata/bad-truncated.toml", "--env", "dst"}, exitUsage, []string{"bad-truncated.toml: not valid TOML"}},
		{"duplicate", home, []string{"sync", "../../lockfile/testdata/bad-duplicate.toml", "--env", "dst"}, exitUsage, []string{"bad-duplicate.toml", "listed twice"}},
		{"lock-version 2", home, []string{"sync", "../../lockfile/testdata/bad-lock-version-2.toml", "--env", "dst"}, exitUsage, []string{`lock-version "2.0" is not supported`}},
		{"no wheel for linux", home, []string{"sync", "../../lockfile/testdata/only-windows-wheel.toml", "--env", "dst"}, exitRefused, []string{"package winonly 1.0", "win_amd64"}},
		{"bad policy", home, []string{"sync", lockPath, "--env", "dst", "--abi-policy", "lax"}, exitUsage, []string{"lax"}},
		{"no file", home, []string{"sync", "--env", "dst"}, exitUsage, []string{"arg"}},
		{"no env", home, []string{"sync", lockPath}, exitUsage, []string{"env"}},
		{"no such env", home, []string{"sync", lockPath, "--env", "nope"}, exitError, []string{"nope"}},
		{"hash mismatch", fresh, []string{"sync", tampered, "--env", "far"}, exitIntegrity, []string{"package beta 2.0: wheel " + other + ": sha256 "}},
		{"sync", home, []string{"sync", lockPath, "--env", "dst"}, 0, []string{"synced dst to " + lockPath + ": 2 added, 1 removed, 0 kept, 0 fetched"}},
		{"sync again", home, []string{"sync", lockPath, "--env", "dst"}, 0, []string{"keep    alpha 1.0\n", "0 added, 0 removed, 2 kept"}},
		{"another home", fresh, []string{"sync", lockPath, "--env", "far"}, 0, []string{"add     beta 2.0  [fetch: " + wheels[1] + "]", "2 added, 0 removed, 0 kept, 2 fetched"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := forgeRunner(tc.home)(tc.args...)
			for _, w := range tc.want {
				if code != tc.code || !strings.Contains(stdout+stderr, w) {
					t.Fatalf("forge %v: exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\nwant %q", tc.args, code, tc.code, stdout, stderr, w)
				}
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		stdout, stderr, code := run("--json", "sync", lockPath, "--env", "dst", "--dry-run")
		var doc struct {
			DryRun   bool `json:"dry_run"`
			Kept     int  `json:"kept"`
			Packages []struct {
				Name, Version, Action, Entry string
			} `json:"packages"`
		}
		if err := json.Unmarshal([]byte(stdout), &doc); err != nil || code != 0 {
			t.Fatalf("exit %d, %v:\n%s\n%s", code, err, stdout, stderr)
		}
		if !doc.DryRun || doc.Kept != 2 || len(doc.Packages) != 2 || doc.Packages[1].Name != "beta" || doc.Packages[1].Action != "keep" || len(doc.Packages[1].Entry) != 64 {
			t.Fatalf("%+v", doc)
		}
		stdout, _, code = run("--json", "sync", "../../lockfile/testdata/bad-truncated.toml", "--env", "dst")
		if code != exitUsage || !strings.Contains(stdout, `"exit_code":2`) {
			t.Fatalf("exit %d: %s", code, stdout)
		}
	})
}
