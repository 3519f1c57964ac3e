package e2e

import (
	"bytes"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"

	"github.com/forge-ml/forge/e2e/realstack"
	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/probe"
)

// bigWheel writes a wheel with a 24 MiB member that does not compress, so
// that unpacking it is long enough to be drawn.
func bigWheel(t *testing.T, dir, name string) string {
	t.Helper()
	data := make([]byte, 24<<20)
	r := rand.New(rand.NewChaCha8([32]byte{1}))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	w := fixtures.PurePackage(name, "1.0", fixtures.WithFiles(fixtures.File{Name: fixtures.ImportName(name) + "/blob.bin", Data: data}))
	p, err := w.WriteTo(dir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// inTerminal runs forge with argv under script(1), whose pseudo-terminal
// is the command's stdout and stderr, and returns what the terminal got.
func inTerminal(t *testing.T, home string, argv ...string) string {
	t.Helper()
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	c := exec.Command("script", "-qec", "stty cols 120 rows 40; exec "+strings.Join(quoted, " "), "/dev/null")
	c.Env = append(realstack.ForgeEnv(home), "TERM=xterm-256color")
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("script %s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// TestInstallProgressInTerminal installs a 24 MiB wheel in a real
// pseudo-terminal and sees its unpacking drawn; with --quiet, --json, or
// stderr not a terminal, nothing is.
func TestInstallProgressInTerminal(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("no script(1) (util-linux)")
	}
	if _, err := probe.FindPython("3.12"); err != nil {
		t.Skipf("no Python 3.12: %v", err)
	}
	wheels := t.TempDir()
	newHome := func() string {
		home := t.TempDir()
		dailyRun(t, home, home, 0, forgeBin, "create", "app", "--python", "3.12", "--without-pip")
		return home
	}
	t.Run("terminal", func(t *testing.T) {
		home := newHome()
		out := inTerminal(t, home, forgeBin, "install", "--env", "app", bigWheel(t, wheels, "bigpkg"))
		for _, want := range []string{"unpacking bigpkg-1.0 (24.0 MiB)", "done", "installed bigpkg 1.0"} {
			if !strings.Contains(out, want) {
				t.Errorf("terminal lacks %q:\n%q", want, out)
			}
		}
	})
	for _, flag := range []string{"--quiet", "--json"} {
		t.Run("terminal "+flag, func(t *testing.T) {
			home := newHome()
			out := inTerminal(t, home, forgeBin, "install", "--env", "app", flag, bigWheel(t, wheels, "bigpkg"))
			if strings.Contains(out, "unpacking") || strings.Contains(out, "\x1b[") {
				t.Errorf("progress drawn with %s:\n%q", flag, out)
			}
		})
	}
	t.Run("not a terminal", func(t *testing.T) {
		home := newHome()
		c := exec.Command(forgeBin, "install", "--env", "app", bigWheel(t, wheels, "bigpkg"))
		c.Env = append(realstack.ForgeEnv(home), "TERM=xterm-256color")
		var stdout, stderr bytes.Buffer
		c.Stdout, c.Stderr = &stdout, &stderr
		if err := c.Run(); err != nil {
			t.Fatalf("install: %v\n%s", err, stderr.String())
		}
		if stderr.Len() != 0 {
			t.Errorf("stderr, a pipe, got:\n%q", stderr.String())
		}
		if !strings.Contains(stdout.String(), "installed bigpkg 1.0") {
			t.Errorf("stdout:\n%s", stdout.String())
		}
	})
}
