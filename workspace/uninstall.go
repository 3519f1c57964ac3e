package workspace

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/wheel"
)

// UninstallOptions are the inputs of Uninstall.
type UninstallOptions struct {
	Env    string
	Names  []string
	Global bool // from the GLOBAL layer instead of the environment's own
}

// Removed is one package Uninstall removed.
type Removed struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Entry   string `json:"entry"`
	Layer   string `json:"layer"`
}

// UninstallReport is what Uninstall did.
type UninstallReport struct {
	Removed []Removed
	// NotInstalled are the names given that the layer did not hold (never
	// installed, or removed by an earlier, interrupted uninstall).
	NotInstalled []string
	// Python is the environment's Python X.Y: a GLOBAL layer is that
	// Python's, shared by every environment of it.
	Python string
}

// Uninstall removes packages' links from one layer of an environment. The
// store is never touched: entries stay until gc finds them unreferenced.
//
// It is idempotent and can be retried: a name the layer does not hold is
// reported in NotInstalled, not an error, as long as another name was
// installed, so that "uninstall a b c" killed after a completes on a
// second run; a package whose removal was interrupted is still listed and
// is removed again. Only when none of the names is installed is the error
// store.ErrNotFound. Every name is looked up before anything is removed.
//
// The operation is recorded in the environment's history (see History).
func (w *Workspace) Uninstall(ctx context.Context, o UninstallOptions) (*UninstallReport, error) {
	args := append(append([]string(nil), o.Names...), "--env", o.Env)
	if o.Global {
		args = append(args, "--global")
	}
	op, err := w.BeginLayerOp(ctx, o.Env, o.Global, "uninstall", args)
	if err != nil {
		return nil, err
	}
	rep, err := w.uninstall(ctx, o)
	op.Done(ctx, err)
	return rep, err
}

func (w *Workspace) uninstall(ctx context.Context, o UninstallOptions) (*UninstallReport, error) {
	e, err := w.OpenEnv(ctx, o.Env)
	if err != nil {
		return nil, err
	}
	layer, venv := e.Name, e.Venv
	if o.Global {
		layer, venv = GlobalLayer(e.Py.XY()), w.GlobalVenv(e.Py)
	}
	lk, err := w.Store.LockLayer(ctx, store.LayerKey(layer), w.Waiting("layer "+LayerLabel(layer)))
	if err != nil {
		return nil, err
	}
	defer lk.Unlock()
	rep := &UninstallReport{Python: e.Py.XY()}
	type target struct {
		name string
		m    *store.Manifest
	}
	var targets []target
	seen := map[string]bool{}
	for _, n := range o.Names {
		norm := wheel.NormalizeName(n)
		if seen[norm] {
			continue
		}
		seen[norm] = true
		m, err := w.Store.ManifestFor(ctx, layer, norm)
		if errors.Is(err, store.ErrNotFound) {
			rep.NotInstalled = append(rep.NotInstalled, n)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		targets = append(targets, target{n, m})
	}
	if len(targets) == 0 {
		return rep, fmt.Errorf("%s not installed in the %s layer of %s: %w", strings.Join(rep.NotInstalled, ", ")+Plural(len(rep.NotInstalled), " is", " are"), LayerLabel(layer), e.Name, store.ErrNotFound)
	}
	for _, t := range targets {
		r := Removed{Name: t.name, Entry: t.m.Entry, Layer: LayerLabel(layer)}
		if en, err := w.Store.Get(ctx, t.m.Entry); err == nil {
			r.Name, r.Version = en.Name, en.Version
		}
		if err := w.UnlinkManifest(ctx, layer, venv, *t.m); err != nil {
			return rep, fmt.Errorf("%s: %w", t.name, err)
		}
		rep.Removed = append(rep.Removed, r)
	}
	return rep, w.RefreshLayering(ctx, e, o.Global)
}

func Plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
