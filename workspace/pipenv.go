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

// ingestPip finds the pip wheel that py bundles for ensurepip and ingests
// it: the first environment of that pip unpacks it into the store like any
// wheel, and every later one finds the file by its identity (no hashing)
// and costs a link. env names the environment in errors.
func (w *Workspace) ingestPip(ctx context.Context, env string, py *probe.Interp) (*store.Entry, error) {
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

// linkPip links the pip entry into e's LOCAL layer as install would
// (recorded in its manifest, launchers pip, pip3 and pip3.X), without an
// ABI check: the wheel is pure Python and came with the interpreter. pip
// then installs into the environment's own site-packages, as real files.
func (w *Workspace) linkPip(ctx context.Context, e *Env, pip *store.Entry) error {
	lk, err := w.Store.LockFile(ctx, "layer-"+sanitize(e.Name), true, w.waiting("layer "+layerLabel(e.Name)))
	if err != nil {
		return err
	}
	defer lk.Unlock()
	return w.linkPipLocked(ctx, e, pip)
}

// linkPipLocked is linkPip for a caller that holds the layer's lock (and
// the gc lock, shared or exclusive).
func (w *Workspace) linkPipLocked(ctx context.Context, e *Env, pip *store.Entry) error {
	// A view made for this Python before is hard-linked; PrepareView is
	// only worth it for a batch, so nothing counts as fresh here.
	_, _, err := w.linkEntries(ctx, e.Name, e.Venv, e, []*store.Entry{pip}, linker.Symlink, true, nil)
	if err != nil {
		return fmt.Errorf("environment %s: linking pip %s: %w", e.Name, pip.Version, err)
	}
	return nil
}

// undoCreate removes an environment that Create recorded but could not
// finish (pip failed to link): its manifest rows, record and directory, so
// that the name is free again. cause is returned with whatever the undoing
// could not do.
func (w *Workspace) undoCreate(ctx context.Context, e *Env, cause error) error {
	errs := []error{cause}
	if ms, err := w.Store.Manifests(ctx, e.Name); err == nil {
		for _, m := range ms {
			if err := w.Store.RemoveManifest(ctx, e.Name, m.NormName); err != nil && !errors.Is(err, store.ErrNotFound) {
				errs = append(errs, err)
			}
		}
	}
	if err := w.Store.RemoveEnv(ctx, e.Name); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(e.Path); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
