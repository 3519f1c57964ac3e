package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/lockfile"
)

// TestLockExportCLI drives forge lock, abi matrix --lock and export through
// Main: outputs, reports and the README's exit codes for bad input.
func TestLockExportCLI(t *testing.T) {
	s, _ := newEmptyCLI(t)
	run := s.run
	var wheels []string
	for _, w := range []fixtures.Wheel{
		fixtures.PurePackage("alpha", "1.0", fixtures.WithHeaders("License-Expression: MIT")),
		fixtures.PurePackage("beta", "2.0"),
	} {
		wheels = append(wheels, fixtures.WriteWheel(t, s.wheels, w))
	}
	for _, args := range [][]string{{"create", "app", "--python", "3.12", "--without-pip"}, append([]string{"install", "--env", "app"}, wheels...)} {
		if _, errOut, code := run(args...); code != 0 {
			t.Fatalf("forge %v: exit %d: %s", args, code, errOut)
		}
	}
	fleet := abiFleet(t)
	out := t.TempDir()
	lockPath := filepath.Join(out, "pylock.toml")

	// A lock whose beta wheel path points at another file (same name): exit 4.
	otherDir := t.TempDir()
	other := fixtures.WriteWheel(t, otherDir, fixtures.PurePackage("beta", "2.0", fixtures.WithRequires("six")))

	tests := []struct {
		name string
		args []string
		code int
		want string // in stdout+stderr
	}{
		{"lock", []string{"lock", "--env", "app", "-o", lockPath, "--profiles", fleet}, 0, "locked 2 package(s) of app to " + lockPath},
		{"lock json", []string{"--json", "lock", "--env", "app", "-o", filepath.Join(out, "j.toml")}, 0, `"without_path": []`},
		{"lock stdout", []string{"lock", "--env", "app", "-o", "-"}, 0, "[packages.tool.forge]"},
		{"lock no env", []string{"lock", "--env", "nope"}, 1, "nope"},
		{"lock no --env", []string{"lock"}, 2, "env"},
		{"lock bad profiles", []string{"lock", "--env", "app", "-o", "-", "--profiles", filepath.Join(out, "none")}, 2, "host profile"},
		{"lock stdout json", []string{"--json", "lock", "--env", "app", "-o", "-"}, 2, "does not combine with --json"},
		{"matrix lock", []string{"abi", "matrix", "--lock", lockPath, "--profiles", fleet}, 0, "2 wheel(s) × 13 profile(s)"},
		{"matrix lock and env", []string{"abi", "matrix", "--lock", lockPath, "--env", "app", "--profiles", fleet}, 2, "give one of"},
		{"matrix uv lock", []string{"abi", "matrix", "--lock", "../../lockfile/testdata/uv-style.toml", "--profiles", fleet}, 1, "5 locked wheel(s) not checkable"},
		{"matrix truncated lock", []string{"abi", "matrix", "--lock", "../../lockfile/testdata/bad-truncated.toml", "--profiles", fleet}, 1, "bad-truncated.toml: not valid TOML"},
		{"matrix lock version 2", []string{"abi", "matrix", "--lock", "../../lockfile/testdata/bad-lock-version-2.toml", "--profiles", fleet}, 1, `lock-version "2.0" is not supported`},
		{"export requirements", []string{"export", "app", "--format", "requirements"}, 0, "alpha==1.0 \\\n    --hash=sha256:"},
		{"export cyclonedx", []string{"export", "app", "--format", "cyclonedx"}, 0, `"purl": "pkg:pypi/alpha@1.0"`},
		{"export json report", []string{"--json", "export", "app", "--format", "cyclonedx", "-o", filepath.Join(out, "bom.json")}, 0, `"packages": 2`},
		{"export stdout json", []string{"--json", "export", "app", "--format", "requirements"}, 2, "only with -o FILE"},
		{"export bad format", []string{"export", "app", "--format", "spdx"}, 2, `--format "spdx"`},
		{"export no format", []string{"export", "app"}, 2, "format"},
		{"export no env", []string{"export", "nope", "--format", "requirements"}, 1, "nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := run(tc.args...)
			if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
				t.Fatalf("forge %v: exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\nwant %q", tc.args, code, tc.code, stdout, stderr, tc.want)
			}
		})
	}

	t.Run("the lock reads back", func(t *testing.T) {
		data, err := os.ReadFile(lockPath)
		if err != nil {
			t.Fatal(err)
		}
		l, err := lockfile.Parse(lockPath, data)
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Packages) != 2 || l.Packages[0].Name != "alpha" || l.Packages[1].Wheels[0].Path != wheels[1] || len(l.Packages[0].Tool.Forge.Verdicts) != len(fixtures.ProfileNames()) {
			t.Fatalf("%+v", l.Packages)
		}
	})

	t.Run("matrix lock integrity", func(t *testing.T) {
		data, err := os.ReadFile(lockPath)
		if err != nil {
			t.Fatal(err)
		}
		bad := filepath.Join(t.TempDir(), "pylock.toml")
		if err := os.WriteFile(bad, []byte(strings.ReplaceAll(string(data), wheels[1], other)), 0o644); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := forgeRunner(t.TempDir())("abi", "matrix", "--lock", bad, "--profiles", fleet)
		if code != exitIntegrity || !strings.Contains(stderr, "package beta 2.0: wheel "+other+": sha256 ") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	})

	t.Run("matrix lock json", func(t *testing.T) {
		stdout, stderr, code := run("--json", "abi", "matrix", "--lock", "../../lockfile/testdata/uv-style.toml", "--profiles", fleet)
		var doc map[string]any
		if err := json.Unmarshal([]byte(stdout), &doc); err != nil || code != exitError {
			t.Fatalf("exit %d, %v:\n%s\n%s", code, err, stdout, stderr)
		}
		if nc, _ := doc["not_checkable"].([]any); len(nc) != 5 {
			t.Fatalf("not_checkable: %v", doc["not_checkable"])
		}
	})
}
