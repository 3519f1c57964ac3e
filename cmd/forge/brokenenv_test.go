package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/forge-ml/forge/fixtures"
)

// TestBrokenEnvCLI: run, activate and install refuse an environment whose
// directory is gone with exit 1 and a message naming it and what to do;
// nothing runs and nothing is rebuilt.
func TestBrokenEnvCLI(t *testing.T) {
	s, exe := newEmptyCLI(t)
	demo := fixtures.WriteWheel(t, s.wheels, fixtures.PurePackage("demo", "1.0"))
	if out, errOut, code := s.run("create", "gone", "--python", exe, "--without-pip"); code != 0 {
		t.Fatalf("create: exit %d\n%s%s", code, out, errOut)
	}
	root := filepath.Join(s.home, "envs", "gone")
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "ran")
	for _, args := range [][]string{
		{"run", "--env", "gone", "--", "python", "-c", "open(" + pyQuote(marker) + ", 'w')"},
		{"activate", "gone"},
		{"install", "--env", "gone", demo},
	} {
		out, errOut, code := s.run(args...)
		if code != 1 || !strings.Contains(errOut, "environment gone is broken") || !strings.Contains(errOut, "forge env rm gone") || !strings.Contains(errOut, root) {
			t.Errorf("forge %s: exit %d, want 1 and a message naming the environment, its directory and forge env rm\n%s%s", args[0], code, out, errOut)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("forge run ran a python although the environment is gone")
	}
	if _, err := os.Lstat(root); err == nil {
		t.Error("install rebuilt part of the environment")
	}
}

func pyQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }
