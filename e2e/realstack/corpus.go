package realstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrSkip marks a corpus that cannot be had here for a reason that is not a
// failure: FORGE_REALSTACK=off, or the download failed for lack of network.
var ErrSkip = errors.New("real-binary corpus unavailable")

// exitDownload is fixtures/cmd/realstack's exit status for a failed download.
const exitDownload = 3

// Corpus builds (or finds, on a warm cache) the corpus with
// scripts/realstack.sh from the repository root and returns the cache
// directory and the wheels' paths.
func Corpus(ctx context.Context, repoRoot string) (cache string, wheels []string, err error) {
	if os.Getenv("FORGE_REALSTACK") == "off" {
		return "", nil, fmt.Errorf("%w: FORGE_REALSTACK=off", ErrSkip)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot, "scripts/realstack.sh"))
	cmd.Dir = repoRoot
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == exitDownload {
			return "", nil, fmt.Errorf("%w: the download failed (no network?): %s", ErrSkip, lastLines(errb.String(), 3))
		}
		return "", nil, fmt.Errorf("scripts/realstack.sh: %v: %s", err, lastLines(errb.String(), 10))
	}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if l != "" {
			wheels = append(wheels, l)
		}
	}
	if len(wheels) == 0 {
		return "", nil, fmt.Errorf("scripts/realstack.sh printed no wheels")
	}
	return filepath.Dir(filepath.Dir(wheels[0])), wheels, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// WheelNamed returns the wheel of project name among wheels ("" if none).
func WheelNamed(wheels []string, name string) string {
	prefix := strings.ReplaceAll(name, "-", "_") + "-"
	for _, w := range wheels {
		if strings.HasPrefix(filepath.Base(w), prefix) {
			return w
		}
	}
	return ""
}

// BuildForge builds cmd/forge into dir and returns the binary's path.
func BuildForge(ctx context.Context, repoRoot, dir string) (string, error) {
	bin := filepath.Join(dir, "forge")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/forge")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_CFLAGS=-O2 -g -Wno-deprecated-declarations")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building forge: %v\n%s", err, out)
	}
	return bin, nil
}
