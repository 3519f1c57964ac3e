// Package reliability holds forge's reliability and security harnesses:
// crash safety (SIGKILL at random points of install, uninstall, create, env
// rm and gc), concurrent use of one store by many processes, injected faults
// (full disk, read-only store, permission denied), and integrity checks.
// Each drives the built forge binary the way a user would and judges the
// result with Check, which looks at the store, SQLite, the environments and
// Python's own view of them. The programs under reliability/crash and
// reliability/concurrency run the long versions; the tests run short ones.
package reliability

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Forge runs one forge binary against one home.
type Forge struct {
	Bin  string
	Home string
	// Env is appended to the child's environment.
	Env []string
	// Cred, when set, runs forge as another user (fault tests).
	Cred *syscall.Credential
}

// Result is how one forge run ended.
type Result struct {
	Args   []string
	Stdout string
	Stderr string
	Code   int  // exit status; -1 when killed by a signal
	Killed bool // ended by SIGKILL (ours)
	Took   time.Duration
}

func (r Result) String() string {
	return fmt.Sprintf("forge %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.Args, " "), r.Code, clip(r.Stdout), clip(r.Stderr))
}

func clip(s string) string {
	if len(s) > 4000 {
		return s[:2000] + "\n…\n" + s[len(s)-2000:]
	}
	return s
}

func (f Forge) command(ctx context.Context, args []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, f.Bin, append([]string{"--home", f.Home}, args...)...)
	cmd.Env = append(cleanEnv(), f.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: f.Cred}
	return cmd
}

// Run runs forge to the end.
func (f Forge) Run(ctx context.Context, args ...string) Result {
	return f.RunKilled(ctx, -1, args...)
}

// RunKilled runs forge and sends SIGKILL to its process group after delay
// (never when delay < 0). Killed says whether the signal ended it; a run that
// finished first has its own exit status.
func (f Forge) RunKilled(ctx context.Context, delay time.Duration, args ...string) Result {
	cmd := f.command(ctx, args)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	start := time.Now()
	res := Result{Args: args}
	if err := cmd.Start(); err != nil {
		res.Code, res.Stderr = 127, err.Error()
		return res
	}
	if delay >= 0 {
		t := time.AfterFunc(delay, func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
		defer t.Stop()
	}
	err := cmd.Wait()
	res.Took = time.Since(start)
	res.Stdout, res.Stderr = o.String(), e.String()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			res.Killed = true
		}
	default:
		res.Code, res.Stderr = 127, res.Stderr+err.Error()
	}
	return res
}

// cleanEnv is the environment without anything that would point Python or
// forge somewhere else.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PYTHON") || strings.HasPrefix(kv, "VIRTUAL_ENV=") || strings.HasPrefix(kv, "FORGE_") || strings.HasPrefix(kv, "PIP_") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, "NO_COLOR=1")
}

// BuildForge builds ./cmd/forge of the module holding this package into dir
// and returns the binary's path.
func BuildForge(dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "forge")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/forge")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_CFLAGS=-O2 -g -Wno-deprecated-declarations")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building forge: %v\n%s", err, out)
	}
	return bin, nil
}

func moduleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if ok {
		if root := filepath.Dir(filepath.Dir(file)); fileExists(filepath.Join(root, "go.mod")) {
			return root, nil
		}
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == os.DevNull {
		return "", fmt.Errorf("cannot find forge's module root: run from inside the repository")
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Workspace prepares a harness run: the work directory (dir, or a new
// temporary one named after prefix, which cleanup removes) and the forge
// binary (bin, or one built into the work directory).
func Workspace(dir, prefix, bin string) (work, forge string, cleanup func(), err error) {
	work, cleanup = dir, func() {}
	if work == "" {
		if work, err = os.MkdirTemp("", prefix); err != nil {
			return "", "", cleanup, err
		}
		d := work
		cleanup = func() { os.RemoveAll(d) }
	}
	if forge = bin; forge == "" {
		if forge, err = BuildForge(work); err != nil {
			cleanup()
			return "", "", func() {}, err
		}
	}
	return work, forge, cleanup, nil
}
