package workspace

import (
	"context"
	"fmt"
	"sort"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/wheel"
)

// A Winner is one package an environment imports: the linked copy of its
// name in the nearest of LOCAL, the parents and GLOBAL.
type Winner struct {
	Layer string       // "LOCAL", a parent's name or "GLOBAL"
	Entry *store.Entry // the store entry linked there
}

// Winners are the packages e sees, sorted by normalised name, with their
// store entries; provided are the libraries all its layers ship (a
// shadowed copy's too: its files are still on the path).
func (w *Workspace) Winners(ctx context.Context, e *Env) ([]Winner, abi.CheckOptions, error) {
	layers := []struct{ key, label string }{{e.Name, "LOCAL"}}
	for _, pr := range e.Chain {
		layers = append(layers, struct{ key, label string }{pr.Name, pr.Name})
	}
	layers = append(layers, struct{ key, label string }{GlobalLayer(e.Py.XY()), "GLOBAL"})
	var wins []Winner
	var fps []*abi.Fingerprint
	seen := map[string]bool{}
	for _, l := range layers {
		ms, err := w.Store.Manifests(ctx, l.key)
		if err != nil {
			return nil, abi.CheckOptions{}, err
		}
		for _, m := range ms {
			if m.State != store.StateLinked {
				continue
			}
			en, err := w.Store.Get(ctx, m.Entry)
			if err != nil {
				return nil, abi.CheckOptions{}, fmt.Errorf("environment %s, layer %s, %s: %w", e.Name, l.label, m.NormName, err)
			}
			fps = append(fps, &en.Fingerprint)
			if !seen[m.NormName] {
				seen[m.NormName] = true
				wins = append(wins, Winner{Layer: l.label, Entry: en})
			}
		}
	}
	sort.SliceStable(wins, func(i, j int) bool {
		return wheel.NormalizeName(wins[i].Entry.Name) < wheel.NormalizeName(wins[j].Entry.Name)
	})
	return wins, ShippedLibs(fps...), nil
}

// ShippedLibs are the sonames and file names of the ELF members of fps:
// what a set of wheels installed together provides to each other.
func ShippedLibs(fps ...*abi.Fingerprint) abi.CheckOptions {
	var p abi.Provided
	for _, fp := range fps {
		p.Add(fp)
	}
	return p.Options()
}
