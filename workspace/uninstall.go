package workspace

import (
	"context"
	"fmt"

	"github.com/forge-ml/forge/abi"
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

// Uninstall removes packages' links from one layer of an environment. The
// store is never touched: entries stay until gc finds them unreferenced.
func (w *Workspace) Uninstall(ctx context.Context, o UninstallOptions) ([]Removed, error) {
	e, err := w.OpenEnv(ctx, o.Env)
	if err != nil {
		return nil, err
	}
	layer, venv := e.Name, e.Venv
	if o.Global {
		layer, venv = GlobalLayer(e.Py.XY()), w.globalVenv(e.Py)
	}
	lk, err := w.Store.LockFile(ctx, "layer-"+sanitize(layer), true, w.waiting("layer "+layerLabel(layer)))
	if err != nil {
		return nil, err
	}
	defer lk.Unlock()
	var out []Removed
	for _, n := range o.Names {
		m, err := w.Store.ManifestFor(ctx, layer, abi.NormalizeName(n))
		if err != nil {
			return out, fmt.Errorf("%s is not installed in the %s layer of %s: %w", n, layerLabel(layer), e.Name, err)
		}
		r := Removed{Name: n, Entry: m.Entry, Layer: layerLabel(layer)}
		if en, err := w.Store.Get(ctx, m.Entry); err == nil {
			r.Name, r.Version = en.Name, en.Version
		}
		if err := w.unlinkManifest(ctx, layer, venv, *m); err != nil {
			return out, fmt.Errorf("%s: %w", n, err)
		}
		out = append(out, r)
	}
	return out, w.refreshLayering(ctx, e, o.Global)
}
