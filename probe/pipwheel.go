package probe

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// ErrNoBundledPip: the interpreter ships no pip wheel (a distribution that
// strips ensurepip, such as Debian's python3 without python3-venv).
var ErrNoBundledPip = errors.New("no bundled pip wheel")

// BundledPip returns the pip wheel the interpreter bundles for ensurepip:
// $BASE_PREFIX/lib/pythonX.Y/ensurepip/_bundled/pip-*.whl (or under its
// platlibdir), else Debian's /usr/share/python-wheels, else wherever the
// interpreter's own ensurepip module lives (asked by running it, which costs
// tens of milliseconds, so only when the usual places hold none). With more
// than one wheel, the highest pip version.
func BundledPip(py *Interp) (string, error) {
	var dirs []string
	for _, lib := range []string{py.PlatLibDir, "lib"} {
		if lib != "" && py.BasePrefix != "" {
			dirs = append(dirs, filepath.Join(py.BasePrefix, lib, py.LibDirName(), "ensurepip", "_bundled"))
		}
	}
	for _, d := range dirs {
		if p := newestPipWheel(d); p != "" {
			return p, nil
		}
	}
	exe := py.Executable
	if exe == "" {
		exe = py.Real
	}
	out, err := exec.Command(exe, "-I", "-c", "import ensurepip, os; print(os.path.dirname(ensurepip.__file__))").Output()
	if err == nil {
		d := filepath.Join(strings.TrimSpace(string(out)), "_bundled")
		dirs = append(dirs, d)
		if p := newestPipWheel(d); p != "" {
			return p, nil
		}
	}
	// Debian and Ubuntu keep the wheels ensurepip installs here.
	const debian = "/usr/share/python-wheels"
	dirs = append(dirs, debian)
	if p := newestPipWheel(debian); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("Python %s (%s): %w in %s", py.Version, exe, ErrNoBundledPip, strings.Join(dirs, ", "))
}

// newestPipWheel is the pip wheel of the highest version in dir, or "".
func newestPipWheel(dir string) string {
	wheels, _ := filepath.Glob(filepath.Join(dir, "pip-*.whl"))
	if len(wheels) == 0 {
		return ""
	}
	version := func(p string) string {
		v, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(p), "pip-"), "-")
		return v
	}
	sort.Slice(wheels, func(i, j int) bool { return dottedLess(version(wheels[i]), version(wheels[j])) })
	if fi, err := os.Stat(wheels[len(wheels)-1]); err != nil || !fi.Mode().IsRegular() {
		return ""
	}
	return wheels[len(wheels)-1]
}

// dottedLess orders release numbers: "9.0.1" < "23.2.1" < "24.0".
func dottedLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		var x, y int
		fmt.Sscan(pa[i], &x)
		fmt.Sscan(pb[i], &y)
		if x != y {
			return x < y
		}
	}
	return len(pa) < len(pb)
}
