package workspace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/internal/errkind"
	"github.com/forge-ml/forge/linker"
	"github.com/forge-ml/forge/probe"
	"github.com/forge-ml/forge/store"
)

// Workspace is an open forge home.
type Workspace struct {
	Home  string
	Store *store.Store
	// Log receives progress lines (stderr in the CLI); nil discards them.
	Log io.Writer
	// Host, when set, stands in for the probed host (--host-profile).
	Host *abi.Host
	// Version is forge's version, recorded in each history row ("" in
	// tests: "dev").
	Version string
	// ExitCode maps an operation's error to the exit code history records
	// (the CLI's mapping); nil records 1 for any error.
	ExitCode func(error) int
	// Clock names snapshots and dates history rows (time.Now when nil).
	Clock func() time.Time
}

func (w *Workspace) Now() time.Time {
	if w.Clock != nil {
		return w.Clock()
	}
	return time.Now()
}

// Open opens the forge home at home, creating it if needed: in a directory
// that does not exist or is empty. An existing directory that holds other
// things and none of a forge home's (homeMarkers) is refused with
// ErrUsage: a mistyped --home such as / or ~ would otherwise silently
// become a forge home, its store and database written among the user's
// files.
func Open(home string) (*Workspace, error) {
	if err := checkHome(home); err != nil {
		return nil, err
	}
	st, err := store.Open(home)
	if err != nil {
		return nil, err
	}
	w := &Workspace{Home: home, Store: st}
	if err := w.rehome(context.Background()); err != nil {
		st.Close()
		return nil, err
	}
	return w, nil
}

// homeMarkers are what a forge home holds from its first use on: the
// database, the store and the environments' directory.
var homeMarkers = []string{"forge.db", "store", "envs"}

// checkHome refuses a home that is an existing non-empty directory with
// none of homeMarkers, or that is not a directory.
func checkHome(home string) error {
	fi, err := os.Stat(home)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("forge home %s: %w", home, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("forge home %s is not a directory: give a new or empty directory, or an existing forge home, with --home or FORGE_HOME: %w", home, ErrUsage)
	}
	if hasHomeMarker(home) {
		return nil
	}
	f, err := os.Open(home)
	if err != nil {
		return fmt.Errorf("forge home %s: %w", home, err)
	}
	defer f.Close()
	// A directory holding only what commands that open no store write
	// (forge probe's cache/) is a home in the making.
	names, _ := f.Readdirnames(16)
	if !slices.ContainsFunc(names, func(n string) bool { return n != "cache" }) {
		return nil
	}
	// Another forge may have begun laying out this new home since the
	// markers were looked for: store/ is the first thing store.Open makes,
	// so what was just read implies a marker now, if forge made it.
	if hasHomeMarker(home) {
		return nil
	}
	return fmt.Errorf("%s is not a forge home: it is a non-empty directory without forge.db, store/ or envs/; "+
		"give a new or empty directory, or an existing forge home, with --home or FORGE_HOME: %w", home, ErrUsage)
}

func hasHomeMarker(home string) bool {
	for _, m := range homeMarkers {
		if _, err := os.Lstat(filepath.Join(home, m)); err == nil {
			return true
		}
	}
	return false
}

// Close releases the store.
func (w *Workspace) Close() error { return w.Store.Close() }

func (w *Workspace) Logf(format string, args ...any) {
	if w.Log != nil {
		fmt.Fprintf(w.Log, format+"\n", args...)
	}
}

// EnvsDir holds the environments.
func (w *Workspace) EnvsDir() string { return filepath.Join(w.Home, "envs") }

func (w *Workspace) cacheDir() string { return filepath.Join(w.Home, "cache", "python") }

// Interp returns the (cached) facts of an interpreter.
func (w *Workspace) Interp(path string) (*probe.Interp, error) {
	return probe.Interpreter(path, probe.WithCacheDir(w.cacheDir()))
}

// GlobalLayer is the name of the implicit GLOBAL layer for Python X.Y.
func GlobalLayer(xy string) string { return string(store.GlobalLayer(xy)) }

// GlobalVenv is GLOBAL's prefix for an interpreter.
func (w *Workspace) GlobalVenv(py *probe.Interp) linker.Venv {
	return linker.Venv{Root: filepath.Join(w.Home, "global", py.XY()), Python: py}
}

// ValidEnvName checks an environment name.
func ValidEnvName(name string) error {
	if !envNameOK(name) || name == "GLOBAL" {
		return fmt.Errorf("environment name %q: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (GLOBAL is reserved): %w", name, ErrUsage)
	}
	return nil
}

// envNameOK: 1-64 of [A-Za-z0-9._-], the first a letter or digit. (Written
// out rather than as a regular expression: compiling one cost forge create
// as much as recording the environment.)
func envNameOK(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}

// ErrUsage marks an error in what the user asked for (exit 2). It is
// errkind.Usage, so that a package below workspace may mark one too.
var ErrUsage = errkind.Usage

// Env is an open environment: its record, interpreter and layers.
type Env struct {
	store.EnvRow
	Py    *probe.Interp
	Venv  linker.Venv
	Chain []*store.EnvRow // parents, nearest first
}

// OpenEnv loads an environment and its parent chain.
func (w *Workspace) OpenEnv(ctx context.Context, name string) (*Env, error) {
	row, err := w.Store.GetEnv(ctx, name)
	if err != nil {
		return nil, err
	}
	// Environments live under this home (rehome moved the rows of a copied
	// one): a row naming a directory elsewhere is never acted on.
	if !Within(row.Path, w.EnvsDir()) {
		return nil, fmt.Errorf("environment %s is recorded at %s, outside %s: %w", name, row.Path, w.EnvsDir(), store.ErrCorrupt)
	}
	py, err := w.Interp(row.Python)
	if err != nil {
		return nil, fmt.Errorf("environment %s: %w", name, err)
	}
	e := &Env{EnvRow: *row, Py: py, Venv: linker.Venv{Root: row.Path, Python: py}}
	seen := map[string]bool{name: true}
	for p := row.Parent; p != ""; {
		if seen[p] {
			return nil, fmt.Errorf("environment %s: parent cycle through %s: %w", name, p, store.ErrCorrupt)
		}
		seen[p] = true
		pr, err := w.Store.GetEnv(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("environment %s: parent: %w", name, err)
		}
		e.Chain = append(e.Chain, pr)
		p = pr.Parent
	}
	return e, nil
}

// LayerSites are the site-packages of the parents (nearest first) and GLOBAL.
func (w *Workspace) LayerSites(e *Env) []string {
	var out []string
	for _, l := range w.layerVenvs(e) {
		out = append(out, l.SitePackages())
	}
	return out
}

// layerVenvs are the layers e sees besides its own: its parents, nearest
// first, then GLOBAL.
func (w *Workspace) layerVenvs(e *Env) []linker.Venv {
	var out []linker.Venv
	for _, p := range e.Chain {
		out = append(out, linker.Venv{Root: p.Path, Python: e.Py})
	}
	return append(out, w.GlobalVenv(e.Py))
}

// CreateOptions are the inputs of Create.
type CreateOptions struct {
	Name   string
	Parent string
	Python string // path or X.Y; "" = the parent's, else python3 on PATH
	// WithoutPip leaves pip out. Otherwise the environment links the pip
	// wheel its interpreter bundles (see LinkPip), so that pip inside it is
	// its own and never the host's.
	WithoutPip bool
}

// Create writes a new environment and records it.
func (w *Workspace) Create(ctx context.Context, o CreateOptions) (*Env, error) {
	if err := ValidEnvName(o.Name); err != nil {
		return nil, err
	}
	var parent *Env
	if o.Parent != "" {
		var err error
		if parent, err = w.OpenEnv(ctx, o.Parent); err != nil {
			return nil, err
		}
	}
	spec := o.Python
	if spec == "" && parent != nil {
		spec = parent.Python
	}
	exe, err := probe.FindPython(spec)
	if err != nil {
		return nil, err
	}
	py, err := w.Interp(exe)
	if err == nil {
		err = probe.CheckSupported(py)
	}
	if errors.Is(err, probe.ErrUnsupportedPython) {
		return nil, errkind.With(fmt.Errorf("environment %s: %w", o.Name, err), ErrUsage)
	}
	if err != nil {
		return nil, err
	}
	if parent != nil && parent.Py.XY() != py.XY() {
		return nil, fmt.Errorf("environment %s: Python %s cannot layer on parent %s (Python %s): %w", o.Name, py.XY(), parent.Name, parent.Py.XY(), ErrUsage)
	}
	var pip *store.Entry
	if !o.WithoutPip {
		// Before the environment's lock, as install takes them: gc, then
		// a layer. Held until pip is linked, so gc cannot collect it first.
		gcLock, err := w.Store.LockGC(ctx, false, w.Waiting("the store (gc running)"))
		if err != nil {
			return nil, err
		}
		defer gcLock.Unlock()
		if pip, err = w.IngestPip(ctx, o.Name, py); err != nil {
			return nil, err
		}
	}
	lk, err := w.Store.LockEnv(ctx, o.Name, w.Waiting("environment "+o.Name))
	if err != nil {
		return nil, err
	}
	defer lk.Unlock()
	root := filepath.Join(w.EnvsDir(), o.Name)
	if _, err := os.Lstat(root); err == nil {
		if _, err := w.Store.GetEnv(ctx, o.Name); err == nil {
			return nil, fmt.Errorf("environment %s: %w", o.Name, store.ErrExists)
		}
		// A directory without a record: left by a crash before the record
		// was written. Nothing links to it; replace it.
		if err := os.RemoveAll(root); err != nil {
			return nil, err
		}
	}
	row := store.EnvRow{Name: o.Name, Path: root, Parent: o.Parent, Python: py.Executable, PythonVersion: py.Version}
	e := &Env{EnvRow: row, Py: py, Venv: linker.Venv{Root: root, Python: py}}
	if parent != nil {
		e.Chain = append([]*store.EnvRow{&parent.EnvRow}, parent.Chain...)
	}
	if err := os.MkdirAll(w.GlobalVenv(py).SitePackages(), 0o755); err != nil {
		return nil, err
	}
	if pip != nil {
		// A record whose directory is gone (doctor reports it) takes the
		// name; its manifest must not be touched by linking pip.
		if _, err := w.Store.GetEnv(ctx, o.Name); err == nil {
			return nil, fmt.Errorf("environment %s: %w", o.Name, store.ErrExists)
		}
	}
	if err := linker.CreateVenv(root, py, "forge create "+o.Name, w.layerVenvs(e), o.WithoutPip); err != nil {
		return nil, fmt.Errorf("environment %s: %w", o.Name, err)
	}
	// pip is linked before the record is written: until then no other
	// forge can open the environment (install, doctor --fix), so the
	// layer's lock, a file of its own to create, is not needed. A crash in
	// between leaves an unrecorded directory and manifest rows of no
	// environment: doctor removes both, and a create of the name replaces
	// them.
	if pip != nil {
		if err := w.LinkPip(ctx, e, pip); err != nil {
			return nil, w.undoCreate(ctx, e, err)
		}
	}
	// A record whose directory is gone (doctor reports it) makes this
	// ErrExists: the name is taken, and the directory just made goes again.
	if err := w.Store.AddEnv(ctx, row); err != nil {
		if pip != nil {
			return nil, w.undoCreate(ctx, e, err)
		}
		os.RemoveAll(root)
		return nil, err
	}
	return e, nil
}

func (w *Workspace) Waiting(what string) func() {
	return func() { w.Logf("waiting for the lock on %s (another forge is using it)", what) }
}

func Within(p, root string) bool {
	r, err := filepath.Rel(root, p)
	return err == nil && r != ".." && !strings.HasPrefix(r, "../")
}
