package workspace

import (
	"context"
	"errors"
	"fmt"
	"os"

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
	_, _, err := w.linkEntries(ctx, e.Name, e.Venv, e, []*store.Entry{pip}, linker.Symlink, true, nil)
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
