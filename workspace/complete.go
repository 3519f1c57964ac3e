package workspace

import (
	"context"
	"sort"

	"github.com/forge-ml/forge/store"
)

// Completer answers shell completion from an existing forge home. It reads
// the database only (store.OpenReadOnly): it creates no forge home, takes
// no lock, runs no interpreter and asks no NVML, so a TAB stays fast and
// harmless. Callers complete nothing on an error (and may log it).
type Completer struct{ st *store.Store }

// OpenCompleter opens home for completion; it fails (and the caller
// completes nothing) when home holds no forge.db.
func OpenCompleter(home string) (*Completer, error) {
	st, err := store.OpenReadOnly(home)
	if err != nil {
		return nil, err
	}
	return &Completer{st}, nil
}

// Close releases the database.
func (c *Completer) Close() error { return c.st.Close() }

// EnvNames lists the environments by name.
func (c *Completer) EnvNames(ctx context.Context) ([]string, error) {
	envs, err := c.st.ListEnvs(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(envs))
	for i, e := range envs {
		names[i] = e.Name
	}
	return names, nil
}

// Layers chooses which layers' packages Packages lists.
type Layers int

const (
	LocalLayer    Layers = iota // the environment's own (what uninstall removes)
	GlobalOnly                  // its Python's GLOBAL layer (uninstall --global)
	VisibleLayers               // LOCAL, the parent chain and GLOBAL (what inspect resolves)
)

// Packages lists the normalised names of the packages in env's layers, each
// once, sorted.
func (c *Completer) Packages(ctx context.Context, env string, which Layers) ([]string, error) {
	row, err := c.st.GetEnv(ctx, env)
	if err != nil {
		return nil, err
	}
	var layers []string
	switch which {
	case LocalLayer:
		layers = []string{row.Name}
	case GlobalOnly:
		layers = []string{GlobalLayer(PyXY(row.PythonVersion))}
	case VisibleLayers:
		seen := map[string]bool{}
		for r := row; r != nil && !seen[r.Name]; {
			seen[r.Name] = true
			layers = append(layers, r.Name)
			if r.Parent == "" {
				break
			}
			if r, err = c.st.GetEnv(ctx, r.Parent); err != nil {
				return nil, err
			}
		}
		layers = append(layers, GlobalLayer(PyXY(row.PythonVersion)))
	}
	set := map[string]bool{}
	for _, l := range layers {
		ms, err := c.st.Manifests(ctx, l)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			set[m.NormName] = true
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}
