package inspect

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/forge-ml/forge/linker"
	"github.com/forge-ml/forge/resolver"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/wheel"
	"github.com/forge-ml/forge/workspace"
)

// globalLayerName is how the resolver and reports name the GLOBAL layer;
// the store keys it per Python version (GlobalLayer).
const globalLayerName = "GLOBAL"

// stackLayer is one layer of an environment's stack as forge records it: the
// resolver's view plus where it lives and the manifest rows behind it.
type stackLayer struct {
	key       string // store layer key: env name or GLOBAL/X.Y
	site      string // its site-packages
	layer     resolver.Layer
	manifests []store.Manifest // parallel to layer.Packages
}

// stack reads the manifests of LOCAL, every parent (nearest first) and
// GLOBAL/X.Y of an environment and the requirements of each linked entry.
// A manifest naming an entry that is not in the store, or an entry without
// readable METADATA, is an integrity failure (store.ErrCorrupt): doctor
// repairs it.
func stack(ctx context.Context, w *workspace.Workspace, e *workspace.Env) ([]stackLayer, error) {
	type spec struct {
		key, name string
		kind      resolver.LayerKind
		venv      linker.Venv
	}
	specs := []spec{{e.Name, e.Name, resolver.Local, e.Venv}}
	for _, p := range e.Chain {
		specs = append(specs, spec{p.Name, p.Name, resolver.Parent, linker.Venv{Root: p.Path, Python: e.Py}})
	}
	specs = append(specs, spec{workspace.GlobalLayer(e.Py.XY()), globalLayerName, resolver.Global, w.GlobalVenv(e.Py)})

	meta := map[string]resolver.Package{} // by entry: parents and GLOBAL share entries
	out := make([]stackLayer, 0, len(specs))
	for _, s := range specs {
		ms, err := w.Store.Manifests(ctx, s.key)
		if err != nil {
			return nil, err
		}
		sl := stackLayer{key: s.key, site: s.venv.SitePackages(), layer: resolver.Layer{Name: s.name, Kind: s.kind, Packages: []resolver.Package{}}}
		for _, m := range ms {
			p, ok := meta[m.Entry]
			if !ok {
				if p, err = packageOf(ctx, w, m); err != nil {
					return nil, fmt.Errorf("layer %s: %w", s.key, err)
				}
				meta[m.Entry] = p
			}
			p.Requested = m.Requested
			sl.layer.Packages = append(sl.layer.Packages, p)
			sl.manifests = append(sl.manifests, m)
		}
		out = append(out, sl)
	}
	return out, nil
}

// packageOf describes a manifest's entry for the resolver: name and version
// from the store row, Requires-Dist and Provides-Extra from the METADATA
// file of the unpacked entry.
func packageOf(ctx context.Context, w *workspace.Workspace, m store.Manifest) (resolver.Package, error) {
	en, err := w.Store.Get(ctx, m.Entry)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return resolver.Package{}, fmt.Errorf("%s: manifest names entry %s, which is not in the store (forge doctor repairs this): %w", m.NormName, m.Entry, store.ErrCorrupt)
		}
		return resolver.Package{}, err
	}
	md, err := workspace.EntryMetadata(w.Store.EntryDir(en.SHA256))
	if err != nil {
		return resolver.Package{}, fmt.Errorf("%s %s (entry %s): %v: %w", en.Name, en.Version, en.SHA256, err, store.ErrCorrupt)
	}
	return resolver.Package{Name: en.Name, Version: en.Version, Requires: md.RequiresDist, Extras: md.ProvidesExtra, Entry: en.SHA256}, nil
}

// resolverMode picks the conflict mode: the one asked for, else the
// environment's resolver_mode setting, else warn.
func resolverMode(e *workspace.Env, asked string) (resolver.Mode, error) {
	s := asked
	if s == "" {
		s = e.Settings[workspace.SettingResolverMode]
	}
	if s == "" {
		return resolver.Warn, nil
	}
	m, err := resolver.ParseMode(s)
	if err != nil {
		return 0, fmt.Errorf("%v: %w", err, workspace.ErrUsage)
	}
	return m, nil
}

// Resolve computes the effective package set of an environment over LOCAL,
// its parents (nearest first) and GLOBAL, with dependency conflicts checked
// for the environment's interpreter under mode. It does not look at the
// environment's resolver_mode setting (Inspect and Tree do).
func Resolve(ctx context.Context, w *workspace.Workspace, env string, mode resolver.Mode) (*resolver.Resolution, error) {
	e, err := w.OpenEnv(ctx, env)
	if err != nil {
		return nil, err
	}
	st, err := stack(ctx, w, e)
	if err != nil {
		return nil, err
	}
	res := resolveStack(st, e, mode)
	return &res, nil
}

func resolveStack(st []stackLayer, e *workspace.Env, mode resolver.Mode) resolver.Resolution {
	layers := make([]resolver.Layer, len(st))
	for i, l := range st {
		layers[i] = l.layer
	}
	return resolver.Resolve(layers, workspace.MarkerEnvFor(e.Py, workspace.HostUname()), mode)
}

// InspectOptions are the inputs of Inspect.
type InspectOptions struct {
	Env  string
	Name string
	Mode string // loose, warn or strict; "" = the resolver_mode setting, else warn
}

// InspectReport says which copy of a package an environment imports, why,
// what it shadows, and the dependency conflicts it takes part in. In JSON
// the effective package's fields (name, version, layer, reason,
// shadowed_sources, ...) sit at the top level.
type InspectReport struct {
	Env    string        `json:"env"`
	Python string        `json:"python_version"`
	Mode   resolver.Mode `json:"mode"`
	resolver.Effective
	// LayerKey is the winning layer's store key (GLOBAL/X.Y for GLOBAL).
	LayerKey  string              `json:"layer_key"`
	Path      string              `json:"path"` // the winning layer's site-packages
	Requires  []string            `json:"requires"`
	Conflicts []resolver.Conflict `json:"conflicts"`
}

// openStack opens an environment, settles its resolver mode (the argument,
// else the environment's setting) and reads its layers.
func openStack(ctx context.Context, w *workspace.Workspace, env, modeArg string) (e *workspace.Env, mode resolver.Mode, st []stackLayer, err error) {
	if e, err = w.OpenEnv(ctx, env); err != nil {
		return nil, mode, nil, err
	}
	if mode, err = resolverMode(e, modeArg); err != nil {
		return nil, mode, nil, err
	}
	if st, err = stack(ctx, w, e); err != nil {
		return nil, mode, nil, err
	}
	addUnmanaged(st) // what pip installed inside the environment: unmanaged.go
	return e, mode, st, nil
}

// Inspect resolves an environment and reports on one package (any
// spelling of its name). A package no layer holds is store.ErrNotFound.
// Conflicts are reported per the mode; the caller decides what strict
// means for its exit (Report.Err).
func Inspect(ctx context.Context, w *workspace.Workspace, o InspectOptions) (*InspectReport, error) {
	e, mode, st, err := openStack(ctx, w, o.Env, o.Mode)
	if err != nil {
		return nil, err
	}
	res := resolveStack(st, e, mode)
	eff, conflicts, ok := resolver.Inspect(res, o.Name)
	if !ok {
		return nil, fmt.Errorf("%s is not installed in any layer of %s (LOCAL, %s): %w", o.Name, e.Name, describeStack(st), store.ErrNotFound)
	}
	rep := &InspectReport{Env: e.Name, Python: e.Py.Version, Mode: mode, Effective: eff, Requires: []string{}, Conflicts: conflicts}
	if rep.Conflicts == nil {
		rep.Conflicts = []resolver.Conflict{}
	}
	for _, l := range st {
		if l.layer.Name == eff.Layer && l.layer.Kind == eff.LayerKind {
			rep.LayerKey, rep.Path = l.key, l.site
			for _, p := range l.layer.Packages {
				if wheel.NormalizeName(p.Name) == eff.Normalized && p.Requires != nil {
					rep.Requires = p.Requires
				}
			}
		}
	}
	return rep, nil
}

// Err is a *resolver.ConflictError when the mode is strict and the package
// takes part in a conflict.
func (r *InspectReport) Err() error {
	return resolver.Resolution{Mode: r.Mode, Conflicts: r.Conflicts}.Err()
}

func describeStack(st []stackLayer) string {
	var parts []string
	for _, l := range st[1:] {
		if l.layer.Kind == resolver.Parent {
			parts = append(parts, "parent "+l.key)
		} else {
			parts = append(parts, l.key)
		}
	}
	return strings.Join(parts, ", ")
}

// TreeOptions are the inputs of Tree.
type TreeOptions struct {
	Env  string
	Mode string // as InspectOptions.Mode
}

// TreeReport is an environment's layers, the packages each holds, which
// copies win, and the dependency edges and conflicts of the effective set.
type TreeReport struct {
	Env       string               `json:"env"`
	Python    string               `json:"python_version"`
	Mode      resolver.Mode        `json:"mode"`
	Layers    []TreeLayer          `json:"layers"`
	Effective []resolver.Effective `json:"effective"`
	Edges     []TreeEdge           `json:"edges"`
	Conflicts []resolver.Conflict  `json:"conflicts"`
}

// TreeLayer is one layer of the stack, most local first.
type TreeLayer struct {
	Name     string             `json:"name"` // env name, or GLOBAL
	Key      string             `json:"key"`  // store key: env name or GLOBAL/X.Y
	Kind     resolver.LayerKind `json:"kind"`
	Path     string             `json:"path"` // site-packages
	Packages []TreePackage      `json:"packages"`
}

// TreePackage is one layer's copy of a package.
type TreePackage struct {
	Name       string   `json:"name"`
	Normalized string   `json:"normalized"`
	Version    string   `json:"version"`
	Entry      string   `json:"entry"`
	LinkMode   string   `json:"link_mode"`
	State      string   `json:"state"`
	Requested  bool     `json:"requested"`
	Requires   []string `json:"requires"`
	// Winner: this copy is the one the environment imports.
	Winner bool `json:"winner"`
	// ShadowedBy is the layer whose copy wins instead ("" for a winner).
	ShadowedBy string `json:"shadowed_by,omitempty"`
}

// TreeEdge is a requirement of an effective package, with its marker true
// for the environment, pointing at the effective copy it resolves to
// (ToLayer empty when no layer provides it).
type TreeEdge struct {
	From        string `json:"from"` // normalised names
	FromLayer   string `json:"from_layer"`
	To          string `json:"to"`
	ToLayer     string `json:"to_layer"`
	Requirement string `json:"requirement"`
	Conflict    string `json:"conflict,omitempty"` // conflict kind, when the edge is one
}

// Tree resolves an environment and lays out every layer's packages.
func Tree(ctx context.Context, w *workspace.Workspace, o TreeOptions) (*TreeReport, error) {
	e, mode, st, err := openStack(ctx, w, o.Env, o.Mode)
	if err != nil {
		return nil, err
	}
	markers := workspace.MarkerEnvFor(e.Py, workspace.HostUname())
	layers := make([]resolver.Layer, len(st))
	for i, l := range st {
		layers[i] = l.layer
	}
	res := resolver.Resolve(layers, markers, mode)
	// The conflicts of a warn resolution mark edges even when the report
	// is loose, so the graph is the same in every mode.
	marks := res.Conflicts
	if mode == resolver.Loose {
		marks = resolver.Resolve(layers, markers, resolver.Warn).Conflicts
	}
	rep := &TreeReport{Env: e.Name, Python: e.Py.Version, Mode: mode, Effective: res.Packages, Edges: []TreeEdge{}, Conflicts: res.Conflicts}
	winners := map[string]resolver.Effective{}
	for _, p := range res.Packages {
		winners[p.Normalized] = p
	}
	for _, l := range st {
		tl := TreeLayer{Name: l.layer.Name, Key: l.key, Kind: l.layer.Kind, Path: l.site, Packages: []TreePackage{}}
		for i, p := range l.layer.Packages {
			m := l.manifests[i]
			norm := wheel.NormalizeName(p.Name)
			tp := TreePackage{Name: p.Name, Normalized: norm, Version: p.Version, Entry: p.Entry, LinkMode: m.LinkMode, State: string(m.State), Requested: p.Requested, Requires: p.Requires}
			if tp.Requires == nil {
				tp.Requires = []string{}
			}
			if win := winners[norm]; win.Layer == l.layer.Name && win.LayerKind == l.layer.Kind {
				tp.Winner = true
			} else {
				tp.ShadowedBy = win.Layer
			}
			tl.Packages = append(tl.Packages, tp)
		}
		rep.Layers = append(rep.Layers, tl)
	}
	rep.Edges = treeEdges(st, res.Packages, winners, markers, marks)
	return rep, nil
}

// Err is a *resolver.ConflictError when the mode is strict and the
// environment has conflicts.
func (r *TreeReport) Err() error {
	return resolver.Resolution{Mode: r.Mode, Conflicts: r.Conflicts}.Err()
}

// treeEdges lists the active requirements of every effective package.
func treeEdges(st []stackLayer, eff []resolver.Effective, winners map[string]resolver.Effective, markers resolver.MarkerEnv, conflicts []resolver.Conflict) []TreeEdge {
	kind := map[[3]string]string{}
	for _, c := range conflicts {
		kind[[3]string{wheel.NormalizeName(c.RequiredBy), c.Package, c.Requirement}] = c.Kind
	}
	requires := map[[2]string][]string{} // (layer name, norm) → Requires-Dist
	for _, l := range st {
		for _, p := range l.layer.Packages {
			k := [2]string{l.layer.Name, wheel.NormalizeName(p.Name)}
			if _, ok := requires[k]; !ok {
				requires[k] = p.Requires
			}
		}
	}
	edges := []TreeEdge{}
	for _, p := range eff {
		env := markers.WithExtras(p.ActiveExtras...)
		for _, raw := range requires[[2]string{p.Layer, p.Normalized}] {
			r, err := resolver.ParseRequirement(raw)
			if err != nil || !r.Marker.Evaluate(env) {
				continue
			}
			ed := TreeEdge{From: p.Normalized, FromLayer: p.Layer, To: r.Normalized, Requirement: strings.TrimSpace(raw)}
			if to, ok := winners[r.Normalized]; ok {
				ed.ToLayer = to.Layer
			}
			ed.Conflict = kind[[3]string{p.Normalized, r.Normalized, ed.Requirement}]
			edges = append(edges, ed)
		}
	}
	slices.SortStableFunc(edges, func(a, b TreeEdge) int {
		return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To), cmp.Compare(a.Requirement, b.Requirement))
	})
	return edges
}
