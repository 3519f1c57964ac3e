package workspace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/forge-ml/forge/linker"
	"github.com/forge-ml/forge/probe"
	"github.com/forge-ml/forge/store"
)

// IngestPip finds the pip wheel that py bundles for ensurepip and ingests
// it: the first environment of that pip unpacks it into the store like any
// wheel, and every later one finds the file by its identity (no hashing)
// and costs a link. env names the environment in errors.
func (w *Workspace) IngestPip(ctx context.Context, env string, py *probe.Interp) (*store.Entry, error) {
	whl, err := probe.BundledPip(py)
	if errors.Is(err, probe.ErrNoBundledPip) {
		return nil, fmt.Errorf("environment %s: %w; install the interpreter's ensurepip (python3-venv on Debian) or create the environment with --without-pip", env, err)
	}
	if err != nil {
		return nil, fmt.Errorf("environment %s: %w", env, err)
	}
	res, err := w.Store.Ingest(ctx, whl)
	if err != nil {
		return nil, fmt.Errorf("environment %s: pip from %s: %w", env, whl, err)
	}
	return res.Entry, nil
}

// LinkPip links the pip entry into e's LOCAL layer as install would
// (recorded in its manifest, launchers pip, pip3 and pip3.X), without an
// ABI check: the wheel is pure Python and came with the interpreter. pip
// then installs into the environment's own site-packages, as real files.
// The caller holds the gc lock (shared or exclusive) and either the
// layer's lock (doctor --fix) or an environment nobody else can open yet
// (create, before the record).
func (w *Workspace) LinkPip(ctx context.Context, e *Env, pip *store.Entry) error {
	// A view made for this Python before is hard-linked; PrepareView is
	// only worth it for a batch, so nothing counts as fresh here.
	_, _, err := w.LinkEntries(ctx, e.Name, e.Venv, e, []*store.Entry{pip}, linker.Symlink, true, nil)
	if err != nil {
		return fmt.Errorf("environment %s: linking pip %s: %w", e.Name, pip.Version, err)
	}
	return nil
}

// undoCreate removes an environment that Create could not finish (pip
// failed to link, or its record could not be written): its manifest rows
// and directory. It has no record of its own (Create writes that last),
// and a record of the name that is there is somebody else's: both stay.
// cause is returned with whatever the undoing could not do.
func (w *Workspace) undoCreate(ctx context.Context, e *Env, cause error) error {
	errs := []error{cause}
	if ms, err := w.Store.Manifests(ctx, e.Name); err == nil {
		for _, m := range ms {
			if err := w.Store.RemoveManifest(ctx, e.Name, m.NormName); err != nil && !errors.Is(err, store.ErrNotFound) {
				errs = append(errs, err)
			}
		}
	}
	if err := os.RemoveAll(e.Path); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// PipError is pip failing: its output is shown to the user verbatim.
type PipError struct {
	Command  []string
	ExitCode int
	Output   string // stdout and stderr, interleaved as pip wrote them
	Err      error
}

func (e *PipError) Error() string {
	if e.ExitCode > 0 {
		return fmt.Sprintf("pip failed (exit status %d); nothing was installed", e.ExitCode)
	}
	return fmt.Sprintf("pip could not run: %v; nothing was installed", e.Err)
}

func (e *PipError) Unwrap() error { return e.Err }

// RunPip runs pip, capturing its output for a PipError and copying it to
// live when set.
func RunPip(ctx context.Context, argv []string, dir string, live io.Writer) error {
	var buf bytes.Buffer
	var out io.Writer = &buf
	if live != nil {
		out = io.MultiWriter(&buf, live)
	}
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Dir = dir
	c.Stdout, c.Stderr = out, out
	err := c.Run()
	if err == nil {
		return nil
	}
	pe := &PipError{Command: argv, Output: buf.String(), Err: err}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		pe.ExitCode = ee.ExitCode()
	}
	return pe
}

// PipInterpreter is the interpreter whose pip resolves for e.
func (w *Workspace) PipInterpreter(e *Env, python string) (string, error) {
	if python != "" {
		exe, err := probe.FindPython(python)
		if err != nil {
			return "", fmt.Errorf("--python: %v: %w", err, ErrUsage)
		}
		py, err := w.Interp(exe)
		if err != nil {
			return "", fmt.Errorf("--python %s: %v: %w", python, err, ErrUsage)
		}
		if py.XY() != e.Py.XY() || py.Implementation != e.Py.Implementation {
			return "", fmt.Errorf("--python %s is %s %s, but environment %s runs %s %s: pip would resolve for the wrong interpreter: %w",
				python, py.ImplName, py.XY(), e.Name, e.Py.ImplName, e.Py.XY(), ErrUsage)
		}
		return exe, nil
	}
	sites := append([]string{e.Venv.SitePackages()}, w.LayerSites(e)...)
	for _, s := range sites {
		if _, err := os.Stat(filepath.Join(s, "pip", "__init__.py")); err == nil {
			return e.Venv.Interpreter(), nil
		}
	}
	if e.Py.Packaging != "" {
		return e.Py.Executable, nil
	}
	for _, p := range []string{e.Py.BaseExecutable, e.Py.Real} {
		if p != "" {
			return p, nil
		}
	}
	return e.Py.Executable, nil
}
