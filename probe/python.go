package probe

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/forge-ml/forge/internal/atomicfile"
)

// Interp holds the facts about one Python interpreter that forge needs to
// build environments and derive wheel tags. They are gathered with a single
// interpreter call and cached on disk, keyed on the executable's identity.
//
// CONTRACT (shared with linker/ and store/): fields may be added; names stay.
type Interp struct {
	Executable     string `json:"executable"`      // the path given, made absolute
	Real           string `json:"real"`            // symlinks resolved
	BaseExecutable string `json:"base_executable"` // sys._base_executable or sys.executable
	Implementation string `json:"implementation"`  // "cp", "pp"
	ImplName       string `json:"impl_name"`       // "cpython"
	Version        string `json:"version"`         // "3.12.1"
	Major          int    `json:"major"`
	Minor          int    `json:"minor"`
	ABIFlags       string `json:"abiflags"`     // sys.abiflags ("", "t", "d")
	SOABI          string `json:"soabi"`        // "cpython-312-x86_64-linux-gnu"
	ExtSuffix      string `json:"ext_suffix"`   // ".cpython-312-x86_64-linux-gnu.so"
	BasePrefix     string `json:"base_prefix"`  // sys.base_prefix
	Prefix         string `json:"prefix"`       // sys.prefix
	PlatLibDir     string `json:"platlibdir"`   // "lib"
	Include        string `json:"include"`      // sysconfig include dir (Python.h)
	Platform       string `json:"platform"`     // sysconfig.get_platform(): "linux-x86_64"
	Machine        string `json:"machine"`      // platform.machine()
	Is64Bit        bool   `json:"is_64bit"`     // sys.maxsize > 2**32
	GilDisabled    bool   `json:"gil_disabled"` // Py_GIL_DISABLED
	PyDebug        bool   `json:"py_debug"`
	WithPymalloc   bool   `json:"with_pymalloc"`
	Libc           string `json:"libc"`      // os.confstr("CS_GNU_LIBC_VERSION") e.g. "glibc 2.36"
	CacheTag       string `json:"cache_tag"` // "cpython-312"
	// Packaging is the version of the packaging library vendored by the
	// interpreter's own pip ("21.3", "24.1"); SysTags reproduces its
	// sys_tags(). Empty when the interpreter has no pip.
	Packaging string `json:"packaging,omitempty"`
	// Musl is the musl version ("1.2") when the interpreter's program
	// interpreter is ld-musl; empty for glibc.
	Musl string `json:"musl,omitempty"`
	// Config holds the raw sysconfig variables the tag algorithm consults.
	Config map[string]any `json:"config,omitempty"`
}

// XY is "3.12".
func (i *Interp) XY() string { return fmt.Sprintf("%d.%d", i.Major, i.Minor) }

// LibDirName is the directory under lib/ holding site-packages: "python3.12" or
// "python3.13t" for a free-threaded build.
func (i *Interp) LibDirName() string {
	if i.GilDisabled {
		return "python" + i.XY() + "t"
	}
	return "python" + i.XY()
}

const interpScript = `
import json, os, platform, sys, sysconfig
cv = sysconfig.get_config_var
libc = ""
try:
    libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
except (AttributeError, ValueError, OSError):
    pass
impl = sys.implementation.name
def _packaging():
    # -S hides site-packages (and, before 3.11, the venv prefix): look for
    # pip's vendor list in the venv next to the executable, then the prefixes.
    import re
    prefixes = []
    venv = os.path.dirname(os.path.dirname(os.path.abspath(sys.executable)))
    if os.path.isfile(os.path.join(venv, "pyvenv.cfg")):
        prefixes.append(venv)
    prefixes += [sys.prefix, sys.base_prefix]
    for p in prefixes:
        paths = sysconfig.get_paths(vars={"base": p, "platbase": p, "installed_base": p, "installed_platbase": p})
        for d in (paths["purelib"], paths["platlib"]):
            try:
                with open(os.path.join(d, "pip", "_vendor", "vendor.txt")) as f:
                    m = re.search(r"(?m)^packaging==([^\s;#]+)", f.read())
            except OSError:
                continue
            if m:
                return m.group(1)
    return ""
short = {"cpython": "cp", "pypy": "pp", "ironpython": "ip", "jython": "jy"}.get(impl, impl)
print(json.dumps({
  "base_executable": getattr(sys, "_base_executable", None) or sys.executable,
  "implementation": short, "impl_name": impl,
  "version": "%d.%d.%d" % sys.version_info[:3],
  "major": sys.version_info[0], "minor": sys.version_info[1],
  "abiflags": getattr(sys, "abiflags", ""),
  "soabi": cv("SOABI") or "", "ext_suffix": cv("EXT_SUFFIX") or "",
  "base_prefix": sys.base_prefix, "prefix": sys.prefix,
  "platlibdir": getattr(sys, "platlibdir", "lib"),
  "include": sysconfig.get_paths()["include"],
  "platform": sysconfig.get_platform(), "machine": platform.machine(),
  "is_64bit": sys.maxsize > 2**32,
  "gil_disabled": bool(cv("Py_GIL_DISABLED")),
  "py_debug": bool(cv("Py_DEBUG")) or hasattr(sys, "gettotalrefcount"),
  "with_pymalloc": bool(cv("WITH_PYMALLOC")),
  "libc": libc, "cache_tag": sys.implementation.cache_tag or "",
  "packaging": _packaging(),
  "config": {k: cv(k) for k in ("Py_DEBUG", "WITH_PYMALLOC", "Py_UNICODE_SIZE", "Py_GIL_DISABLED", "SOABI", "EXT_SUFFIX", "MULTIARCH", "py_version_nodot")},
}))
`

// Interpreter returns the facts about the interpreter at path, from the cache
// when the executable (after resolving symlinks) has the same size and
// modification time as when they were gathered.
func Interpreter(path string, opts ...InterpOption) (*Interp, error) {
	cfg := newConfig(opts)
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("python %s: %w", path, err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return nil, fmt.Errorf("python %s: %w", path, err)
	}
	var cacheFile string
	// A wrapper script (a pyenv shim) may run a different interpreter next
	// time without changing itself: only a real executable is cached.
	if cfg.cacheDir != "" && isELF(real) {
		sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%d\x00%d\x00v2", abs, real, st.Size(), st.ModTime().UnixNano())))
		cacheFile = filepath.Join(cfg.cacheDir, hex.EncodeToString(sum[:16])+".json")
		if b, err := os.ReadFile(cacheFile); err == nil {
			var in Interp
			if json.Unmarshal(b, &in) == nil && in.Version != "" {
				return &in, nil
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeoutOr(30*time.Second))
	defer cancel()
	cmd := exec.CommandContext(ctx, abs, "-I", "-S", "-c", interpScript)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Env = cleanPythonEnv(os.Environ())
	out, err := cmd.Output()
	if err != nil {
		// Python 2 rejects -I with a usage dump: ask the version the way
		// any CPython answers and name it instead.
		if v, verr := Version(abs, cfg.timeoutOr(10*time.Second)); verr == nil {
			if x, y, ok := MajorMinor(v); ok && !Supported(x, y) {
				return nil, unsupported(path, v)
			}
		}
		return nil, fmt.Errorf("python %s: %v: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	var in Interp
	if err := json.Unmarshal(out, &in); err != nil {
		return nil, fmt.Errorf("python %s: unreadable facts: %v", path, err)
	}
	in.Executable, in.Real = abs, real
	in.Musl = muslVersionOf(real)
	if cacheFile != "" {
		if err := writeFileAtomic(cacheFile, mustJSON(in)); err != nil {
			return nil, err
		}
	}
	return &in, nil
}

func cleanPythonEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if strings.HasPrefix(kv, "PYTHONHOME=") || strings.HasPrefix(kv, "PYTHONPATH=") || strings.HasPrefix(kv, "VIRTUAL_ENV=") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func mustJSON(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err)
	}
	return b
}

// writeFileAtomic writes one of probe's files (a cache, a saved profile)
// at once, creating its directory. Durable: the caches were always
// fsynced (a cache read back empty after a power loss would be probed
// again, but a saved profile is a file a user asked for), and the directory
// is now fsynced too. 0o600 is the mode these files always had.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, data, 0o600, atomicfile.Durable)
}

var xyRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\d+\.\d+$`) })

// ErrNoPython means no interpreter matched a request.
var ErrNoPython = errors.New("no matching python interpreter")

// FindPython turns a --python value into an executable path: a path is used
// as it is; "X.Y" is looked up as pythonX.Y on PATH, then under pyenv's
// versions directory (PYENV_ROOT or ~/.pyenv); "" means python3 on PATH.
func FindPython(spec string) (string, error) {
	switch {
	case spec == "":
		if p, err := exec.LookPath("python3"); err == nil {
			return p, nil
		}
		return "", fmt.Errorf("python3: %w on PATH", ErrNoPython)
	case strings.ContainsRune(spec, os.PathSeparator):
		if _, err := os.Stat(spec); err != nil {
			return "", fmt.Errorf("python %s: %w", spec, err)
		}
		return spec, nil
	case xyRe().MatchString(spec):
		// pyenv's shims answer for every version but fail for those not
		// selected: skip them and look in pyenv's versions directly.
		if p, err := exec.LookPath("python" + spec); err == nil && !strings.Contains(p, string(os.PathSeparator)+"shims"+string(os.PathSeparator)) {
			return p, nil
		}
		root := pyenvRoot(os.LookupEnv) // where Candidates looks too
		matches, _ := filepath.Glob(filepath.Join(root, "versions", spec+".*", "bin", "python"+spec))
		sort.Slice(matches, func(a, b int) bool { return versionLess(matches[b], matches[a]) })
		for _, m := range matches {
			if _, err := os.Stat(m); err == nil {
				return m, nil
			}
		}
		return "", fmt.Errorf("python %s: %w (looked on PATH and in %s)", spec, ErrNoPython, filepath.Join(root, "versions"))
	default:
		if p, err := exec.LookPath(spec); err == nil {
			return p, nil
		}
		return "", fmt.Errorf("python %q: %w", spec, ErrNoPython)
	}
}

// versionLess orders pyenv paths ".../3.12.1/bin" < ".../3.12.10/bin".
func versionLess(a, b string) bool {
	return dottedLess(filepath.Base(filepath.Dir(filepath.Dir(a))), filepath.Base(filepath.Dir(filepath.Dir(b))))
}

func isELF(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [4]byte
	_, err = io.ReadFull(f, magic[:])
	return err == nil && string(magic[:]) == "\x7fELF"
}
