package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// MinPython is the oldest Python forge builds environments for: every
// environment sets sys.pycache_prefix from a .pth file (linker's
// _forge_pycache.pth), and sys.pycache_prefix appeared in Python 3.8; the
// interpreter facts script also needs Python 3 (-I, sys.implementation).
var MinPython = [2]int{3, 8}

// SupportedRange names the supported versions for messages.
func SupportedRange() string { return fmt.Sprintf("Python %d.%d or newer", MinPython[0], MinPython[1]) }

// ErrUnsupportedPython means an interpreter is older than MinPython (or is
// not CPython-compatible enough to describe itself).
var ErrUnsupportedPython = errors.New("unsupported python version")

// Supported says whether forge builds environments for Python major.minor.
func Supported(major, minor int) bool {
	return major > MinPython[0] || (major == MinPython[0] && minor >= MinPython[1])
}

// CheckSupported returns an error wrapping ErrUnsupportedPython, naming the
// interpreter, its version and the supported range, when py is too old.
func CheckSupported(py *Interp) error {
	if Supported(py.Major, py.Minor) {
		return nil
	}
	return unsupported(py.Executable, py.Version)
}

func unsupported(path, version string) error {
	return &UnsupportedPythonError{Path: path, Version: version}
}

// UnsupportedPythonError is ErrUnsupportedPython for one interpreter; its
// text names the interpreter, its version and the supported range, and not
// the kind.
type UnsupportedPythonError struct{ Path, Version string }

func (e *UnsupportedPythonError) Error() string {
	return fmt.Sprintf("python %s is Python %s; forge supports %s", e.Path, e.Version, SupportedRange())
}

func (e *UnsupportedPythonError) Is(target error) bool { return target == ErrUnsupportedPython }

// versionScript prints the interpreter's version; it runs under Python 2
// too, so that an old interpreter is named rather than failing on -I.
const versionScript = `import sys; sys.stdout.write("%d.%d.%d" % tuple(sys.version_info[:3]))`

// Version asks the interpreter at path for its version ("3.12.1") with the
// smallest call any CPython answers (no -I: Python 2 lacks it).
func Version(path string, timeout time.Duration) (string, error) {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-E", "-S", "-c", versionScript)
	cmd.Env = cleanPythonEnv(os.Environ())
	cmd.Dir = os.TempDir() // -c puts the working directory on sys.path
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("python %s: %v: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	v := strings.TrimSpace(string(out))
	if !versionRe().MatchString(v) {
		return "", fmt.Errorf("python %s: version %q is not X.Y.Z", path, v)
	}
	return v, nil
}

var versionRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\d+\.\d+\.\d+$`) })

// MajorMinor splits "3.12.1" into 3, 12.
func MajorMinor(version string) (int, int, bool) {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	x, err1 := strconv.Atoi(parts[0])
	y, err2 := strconv.Atoi(parts[1])
	return x, y, err1 == nil && err2 == nil
}

// Candidate is an interpreter forge can see, found by name alone (nothing
// is run): XY is the version the name or directory says.
type Candidate struct {
	Path   string `json:"path"`
	XY     string `json:"xy"`
	Source string `json:"source"` // "pyenv", "PATH" or "system"
}

// Candidates lists the interpreters forge can see without running them:
// pyenv's under PYENV_ROOT (or ~/.pyenv) versions/*/bin/pythonX.Y, each
// pythonX.Y on PATH (pyenv's shims skipped: they answer only for the
// selected versions), and python3 on PATH, which FindPython("") uses. The
// order is pyenv's newest first, then PATH's; a real file reached twice is
// listed once. It is fast enough for shell completion.
func Candidates(opts ...Option) []Candidate {
	cfg := newConfig(opts)
	var out []Candidate
	seen := map[string]bool{}
	add := func(path, xy, source string) {
		real, err := filepath.EvalSymlinks(path)
		if err != nil {
			return
		}
		if fi, err := os.Stat(real); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 || seen[real] {
			return
		}
		seen[real] = true
		out = append(out, Candidate{Path: path, XY: xy, Source: source})
	}
	if root := pyenvRoot(cfg.env); root != "" {
		dirs, _ := filepath.Glob(filepath.Join(root, "versions", "*", "bin"))
		sort.Slice(dirs, func(a, b int) bool { return versionLess(dirs[b]+"/x", dirs[a]+"/x") })
		for _, d := range dirs {
			m := pyXYRe().FindStringSubmatch(filepath.Base(filepath.Dir(d)))
			if m == nil {
				continue
			}
			add(filepath.Join(d, "python"+m[1]), m[1], "pyenv")
		}
	}
	path, _ := cfg.env("PATH")
	for _, dir := range filepath.SplitList(path) {
		if dir == "" || filepath.Base(dir) == "shims" {
			continue
		}
		names, _ := filepath.Glob(filepath.Join(dir, "python[0-9].*"))
		sort.Slice(names, func(a, b int) bool { return xyLess(names[b], names[a]) })
		for _, n := range names {
			m := exeXYRe().FindStringSubmatch(filepath.Base(n))
			if m == nil {
				continue
			}
			source := "PATH"
			if strings.HasPrefix(dir, "/usr/") || strings.HasPrefix(dir, "/bin") {
				source = "system"
			}
			add(n, m[1], source)
		}
	}
	return out
}

var (
	pyXYRe  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(\d+\.\d+)\.\d+$`) })
	exeXYRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^python(\d+\.\d+)$`) })
)

// xyLess orders ".../python3.9" < ".../python3.10".
func xyLess(a, b string) bool {
	xa, ya, _ := MajorMinor(strings.TrimPrefix(filepath.Base(a), "python"))
	xb, yb, _ := MajorMinor(strings.TrimPrefix(filepath.Base(b), "python"))
	if xa != xb {
		return xa < xb
	}
	return ya < yb
}

// pyenvRoot is PYENV_ROOT, else ~/.pyenv when it exists.
func pyenvRoot(env func(string) (string, bool)) string {
	if r, ok := env("PYENV_ROOT"); ok && r != "" {
		return r
	}
	home, ok := env("HOME")
	if !ok || home == "" {
		return ""
	}
	return filepath.Join(home, ".pyenv")
}

// Python is one interpreter forge can see, with the version it reports.
type Python struct {
	Candidate
	Version   string `json:"version,omitempty"` // "3.12.1"; empty when it did not answer
	Supported bool   `json:"supported"`
	Error     string `json:"error,omitempty"` // why it did not answer
}

// Pythons runs each of Candidates once (in parallel, a few at a time) for
// its version and says whether forge supports it.
func Pythons(opts ...Option) []Python {
	cfg := newConfig(opts)
	cands := Candidates(opts...)
	out := make([]Python, len(cands))
	var g errgroup.Group
	g.SetLimit(4)
	for i, c := range cands {
		g.Go(func() error {
			p := Python{Candidate: c}
			v, err := Version(c.Path, cfg.timeoutOr(10*time.Second))
			if err != nil {
				p.Error = err.Error()
			} else if x, y, ok := MajorMinor(v); ok {
				p.Version, p.Supported = v, Supported(x, y)
			}
			out[i] = p
			return nil
		})
	}
	g.Wait()
	return out
}
