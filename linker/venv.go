// Package linker materialises environments: it writes virtual environments,
// links store entries into a layer's site-packages, writes entry-point
// launchers, .data files and the installed .dist-info (INSTALLER, REQUESTED,
// RECORD), and removes them again. It executes decisions; it makes none.
// It never writes into, and never deletes through a link into, the store.
package linker

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/forge-ml/forge/probe"
	"github.com/forge-ml/forge/wheel"
)

// Venv names the directories of a virtual environment (or of a layer prefix
// laid out like one).
type Venv struct {
	Root   string
	Python *probe.Interp
}

// SitePackages is Root/lib/pythonX.Y/site-packages.
func (v Venv) SitePackages() string {
	return filepath.Join(v.Root, "lib", v.Python.LibDirName(), "site-packages")
}

// Bin is Root/bin.
func (v Venv) Bin() string { return filepath.Join(v.Root, "bin") }

// Interpreter is the environment's own python.
func (v Venv) Interpreter() string { return filepath.Join(v.Root, "bin", "python") }

// Headers is where .data/headers of a project go (as pip: include/site/pythonX.Y/NAME).
func (v Venv) Headers(project string) string {
	return filepath.Join(v.Root, "include", "site", v.Python.LibDirName(), project)
}

// CreateVenv writes a virtual environment at root for interpreter py without
// running python: pyvenv.cfg, bin/python links, activate scripts, an empty
// site-packages and its layering (the files WriteLayers writes, for the
// site-packages of layers: the parents, nearest first, then GLOBAL). All of it is written into a directory beside root that is
// then renamed into place, so root either does not exist or is a complete,
// layered environment; its files need no write-and-rename of their own.
// withoutPip is recorded in pyvenv.cfg (see WithoutPip); the caller links
// pip, or not.
func CreateVenv(root string, py *probe.Interp, command string, layers []Venv, withoutPip bool) error {
	if _, err := os.Lstat(root); err == nil {
		return fmt.Errorf("environment directory %s: %w", root, os.ErrExist)
	}
	tmp, err := mkdirStaging(root)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	// Paths inside the environment name its final root, not tmp.
	final := Venv{Root: root, Python: py}
	staged := Venv{Root: tmp, Python: py}
	lib := filepath.Join(tmp, "lib")
	for _, d := range []string{staged.Bin(), lib, filepath.Dir(staged.SitePackages()), staged.SitePackages(), filepath.Join(tmp, "include")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	if py.Is64Bit && py.PlatLibDir == "lib" {
		if err := os.Symlink("lib", filepath.Join(tmp, "lib64")); err != nil {
			return err
		}
	}
	base := py.BaseExecutable
	if base == "" {
		base = py.Real
	}
	if !filepath.IsAbs(base) {
		base = py.Real
	}
	exe := filepath.Base(base)
	links := map[string]string{"python": base}
	for _, n := range []string{"python3", "python" + py.XY()} {
		if n != "python" {
			links[n] = "python"
		}
	}
	if exe != "python" && exe != "python3" && exe != "python"+py.XY() {
		links[exe] = "python"
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(staged.Bin(), name)); err != nil {
			return err
		}
	}
	cfg := fmt.Sprintf("home = %s\ninclude-system-site-packages = false\nversion = %s\nexecutable = %s\ncommand = %s\nforge = true\n",
		filepath.Dir(base), py.Version, py.Real, command)
	if withoutPip {
		cfg += withoutPipLine + "\n"
	}
	if err := os.WriteFile(filepath.Join(tmp, "pyvenv.cfg"), []byte(cfg), 0o644); err != nil {
		return err
	}
	for name, script := range activateScripts(final, layers) {
		if err := os.WriteFile(filepath.Join(staged.Bin(), name), []byte(script), 0o644); err != nil {
			return err
		}
	}
	layerSites := make([]string, len(layers))
	for i, l := range layers {
		layerSites[i] = l.SitePackages()
	}
	if err := writeLayers(staged.SitePackages(), final, layerSites, os.WriteFile, false); err != nil {
		return err
	}
	if err := os.Rename(tmp, root); err != nil {
		return err
	}
	ok = true
	return nil
}

// withoutPipLine in pyvenv.cfg marks an environment made without pip on
// purpose (forge create --without-pip), which doctor then leaves alone.
const withoutPipLine = "forge-without-pip = true"

// WithoutPip reports whether the environment at root was created without
// pip on purpose.
func WithoutPip(root string) bool {
	data, err := os.ReadFile(filepath.Join(root, "pyvenv.cfg"))
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(l, "=")
		if ok && strings.TrimSpace(k) == "forge-without-pip" && strings.TrimSpace(v) == "true" {
			return true
		}
	}
	return false
}

// mkdirStaging makes an empty directory beside root, named after it, to
// build root in (and its parent directory when it is missing).
func mkdirStaging(root string) (string, error) {
	parent := filepath.Dir(root)
	for try := 0; ; try++ {
		tmp := filepath.Join(parent, "."+filepath.Base(root)+".creating-"+strconv.FormatUint(uint64(rand.Uint32()), 10))
		err := os.Mkdir(tmp, 0o755)
		switch {
		case err == nil:
			return tmp, nil
		case errors.Is(err, fs.ErrNotExist) && try == 0:
			if err := os.MkdirAll(parent, 0o755); err != nil {
				return "", err
			}
		case errors.Is(err, fs.ErrExist) && try < 100:
		default:
			return "", err
		}
	}
}

// activateScripts are bin/activate and bin/activate.fish of env, whose
// layers are parents (nearest first) and then GLOBAL: sourced, they put
// every layer's bin on PATH, so that the parents' console scripts run as
// their modules import.
func activateScripts(env Venv, layers []Venv) map[string]string {
	a := Activation{VirtualEnv: env.Root, Prompt: "(" + filepath.Base(env.Root) + ") ", Path: []string{env.Bin()}}
	for _, l := range layers {
		a.Path = append(a.Path, l.Bin())
	}
	return map[string]string{"activate": ActivateScript(POSIX, a), "activate.fish": ActivateScript(Fish, a)}
}

// Layer .pth files written by forge; other .pth files in a parent layer are
// mirrored into its children so that they take effect there too.
const (
	layersPth  = wheel.ReservedSitePrefix + "layers.pth"
	pycachePth = wheel.ReservedSitePrefix + "pycache.pth"
	mirrorPth  = wheel.ReservedSitePrefix + "mirror_"
)

// WriteLayers writes the layering of an environment's site-packages: a .pth
// file of plain path lines naming each parent's site-packages (nearest
// first) and then GLOBAL's, copies of the parents' own .pth files (their
// relative path lines made absolute, so they mean what they meant in the
// parent), and the bytecode-cache redirection.
//
// Bytecode: Python writes __pycache__ next to the source it imports. Through
// a link into the store that would write into the store, so every forge
// environment sets sys.pycache_prefix to its own directory. This is one
// import line in a .pth file: PEP 829 deprecates import lines for paths, and
// forge uses path lines for paths, but there is no other per-environment way
// to set the prefix.
func WriteLayers(env Venv, layerSites []string) error {
	return writeLayers(env.SitePackages(), env, layerSites, writeFileAtomic, true)
}

// writeLayers writes env's layering files into site (env's site-packages, or
// where it is being staged) with write. replace: earlier mirrors may exist.
func writeLayers(site string, env Venv, layerSites []string, write func(string, []byte, os.FileMode) error, replace bool) error {
	var b strings.Builder
	b.WriteString("# Written by forge: the parent and GLOBAL layers of this environment, nearest first.\n")
	for _, s := range layerSites {
		b.WriteString(s + "\n")
	}
	if err := write(filepath.Join(site, layersPth), []byte(b.String()), 0o644); err != nil {
		return err
	}
	cache := PycacheDir(env)
	pyc := fmt.Sprintf("import sys; sys.pycache_prefix = sys.pycache_prefix or %q\n", cache)
	if err := write(filepath.Join(site, pycachePth), []byte(pyc), 0o644); err != nil {
		return err
	}
	// Mirror the parents' own .pth files, replacing earlier mirrors.
	var old []string
	if replace {
		old, _ = filepath.Glob(filepath.Join(site, mirrorPth+"*.pth"))
	}
	keep := map[string]bool{}
	for i, ls := range layerSites {
		pths, _ := filepath.Glob(filepath.Join(ls, "*.pth"))
		sort.Strings(pths)
		for _, p := range pths {
			name := filepath.Base(p)
			if strings.HasPrefix(name, wheel.ReservedSitePrefix) {
				continue
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			mirror := fmt.Sprintf("%s%02d_%s", mirrorPth, i, name)
			keep[mirror] = true
			if err := write(filepath.Join(site, mirror), absolutisePth(data, ls), 0o644); err != nil {
				return err
			}
		}
	}
	for _, o := range old {
		if !keep[filepath.Base(o)] {
			os.Remove(o)
		}
	}
	return nil
}

// PycacheDir is where an environment's bytecode goes (sys.pycache_prefix
// through _forge_pycache.pth, PYTHONPYCACHEPREFIX under forge run and
// activate): never beside sources, which may be in the store.
func PycacheDir(env Venv) string { return filepath.Join(env.Root, "var", "pycache") }

// absolutisePth rewrites the relative path lines of a .pth file that lived in
// dir; comments, blank lines and import lines are kept as they are.
func absolutisePth(data []byte, dir string) []byte {
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		t := strings.TrimRight(l, "\r")
		if t == "" || strings.HasPrefix(t, "#") || strings.HasPrefix(t, "import ") || strings.HasPrefix(t, "import\t") {
			continue
		}
		if !filepath.IsAbs(t) {
			lines[i] = filepath.Join(dir, t)
		}
	}
	return []byte(strings.Join(lines, "\n"))
}
