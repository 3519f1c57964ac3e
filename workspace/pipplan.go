package workspace

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/resolver"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/wheel"
)

// storePlan is what the fast path links: NAME==VERSION specs.
type storePlan struct {
	requested, deps []string
}

// planned is one package chosen from the store.
type planned struct {
	entry  *store.Entry
	spec   string // NAME==VERSION as Install will look it up
	extras map[string]bool
	top    bool
}

// planFromStore decides whether the store alone serves the request: every
// active requirement pinned with == (no wildcard), an accepted build of it
// in the store, and the same for everything its Requires-Dist needs
// (markers and extras evaluated for the environment; unpinned dependencies
// take the highest version in the store that satisfies every requirement
// and constraint). reason says why not; "" means plan is complete.
func (w *Workspace) planFromStore(ctx context.Context, e *Env, req *pipRequest, host *abi.Host, policy abi.Policy, gpu string, menv resolver.MarkerEnv) (plan storePlan, reason string, err error) {
	if req.noFastPath != "" {
		return plan, req.noFastPath, nil
	}
	pyVersion, verr := resolver.ParseVersion(e.Py.Version)
	if verr != nil {
		return plan, "interpreter version " + e.Py.Version + " is not PEP 440", nil
	}
	chosen := map[string]*planned{}
	var order, work []string
	metaCache := map[string]wheel.Metadata{}
	meta := func(en *store.Entry) (wheel.Metadata, error) {
		if m, ok := metaCache[en.SHA256]; ok {
			return m, nil
		}
		m, err := entryMetadata(w.Store.EntryDir(en.SHA256))
		if err == nil {
			metaCache[en.SHA256] = m
		}
		return m, err
	}
	// accept picks an accepted build among the entries of one version.
	accept := func(name, version string, spec resolver.SpecifierSet) (*store.Entry, string, error) {
		ents, err := w.Store.Find(ctx, name, version)
		if err != nil {
			return nil, "", err
		}
		var fps []*abi.Fingerprint
		var keep []*store.Entry
		for _, en := range ents {
			v, err := resolver.ParseVersion(en.Version)
			if err != nil || !spec.Contains(v, true) || !pipConstraintsAllow(req.constraints, en) {
				continue
			}
			m, err := meta(en)
			if err != nil || !pipPythonAllows(m.RequiresPython, pyVersion) {
				continue
			}
			keep, fps = append(keep, en), append(fps, &en.Fingerprint)
		}
		if len(keep) == 0 {
			return nil, fmt.Sprintf("%s==%s is not in the store", name, version), nil
		}
		g := gpu
		if g == "" {
			g = "auto"
		}
		idx, _, cerr := abi.ChooseFlavour(fps, host, policy, g)
		if cerr != nil || idx < 0 || abi.Evaluate(fps[idx], host, policy, abi.CheckOptions{}).Refused() {
			return nil, fmt.Sprintf("no build of %s==%s in the store is accepted on %s", name, version, hostName(host)), nil
		}
		return keep[idx], "", nil
	}
	addExtras := func(pl *planned, extras []string) bool {
		grew := false
		for _, x := range extras {
			x = wheel.NormalizeName(x)
			if !pl.extras[x] {
				pl.extras[x], grew = true, true
			}
		}
		return grew
	}

	for _, r := range req.reqs {
		if !r.active {
			continue
		}
		version, ok := pinnedVersion(r.req)
		if !ok {
			return plan, fmt.Sprintf("%s is not pinned with ==", r.raw), nil
		}
		if pl, ok := chosen[r.req.Normalized]; ok {
			v, _ := resolver.ParseVersion(pl.entry.Version)
			if !r.req.Specifier.Contains(v, true) {
				return plan, fmt.Sprintf("%s and %s disagree", r.raw, pl.spec), nil
			}
			if addExtras(pl, r.req.Extras) {
				work = append(work, r.req.Normalized)
			}
			continue
		}
		en, why, err := accept(r.req.Name, version, r.req.Specifier)
		if err != nil || why != "" {
			return plan, why, err
		}
		pl := &planned{entry: en, spec: r.req.Name + "==" + version, extras: map[string]bool{}, top: true}
		addExtras(pl, r.req.Extras)
		chosen[r.req.Normalized] = pl
		order = append(order, r.req.Normalized)
		work = append(work, r.req.Normalized)
	}
	if len(order) == 0 {
		return plan, "no requirement applies to this environment", nil
	}
	for !req.noDeps && len(work) > 0 {
		n := work[0]
		work = work[1:]
		pl := chosen[n]
		m, err := meta(pl.entry)
		if err != nil {
			return plan, fmt.Sprintf("%s %s: cannot read its metadata: %v", pl.entry.Name, pl.entry.Version, err), nil
		}
		var extras []string
		for x := range pl.extras {
			extras = append(extras, x)
		}
		sort.Strings(extras)
		env := menv.WithExtras(extras...)
		for _, raw := range m.RequiresDist {
			dep, err := resolver.ParseRequirement(raw)
			if err != nil {
				return plan, fmt.Sprintf("%s declares %q, which forge cannot read", pl.entry.Name, raw), nil
			}
			if !dep.Marker.Evaluate(env) {
				continue
			}
			if dep.URL != "" {
				return plan, fmt.Sprintf("%s requires %s by URL", pl.entry.Name, raw), nil
			}
			if have, ok := chosen[dep.Normalized]; ok {
				v, _ := resolver.ParseVersion(have.entry.Version)
				if !dep.Specifier.Contains(v, true) {
					return plan, fmt.Sprintf("%s requires %s, but %s %s was chosen", pl.entry.Name, raw, have.entry.Name, have.entry.Version), nil
				}
				if addExtras(have, dep.Extras) {
					work = append(work, dep.Normalized)
				}
				continue
			}
			en, why, err := w.bestInStore(ctx, dep, req.pre, accept)
			if err != nil || why != "" {
				return plan, why, err
			}
			public, _, _ := strings.Cut(en.Version, "+")
			np := &planned{entry: en, spec: dep.Name + "==" + public, extras: map[string]bool{}}
			addExtras(np, dep.Extras)
			chosen[dep.Normalized] = np
			order = append(order, dep.Normalized)
			work = append(work, dep.Normalized)
		}
	}
	for _, n := range order {
		if pl := chosen[n]; pl.top {
			plan.requested = append(plan.requested, pl.spec)
		} else {
			plan.deps = append(plan.deps, pl.spec)
		}
	}
	return plan, "", nil
}

// bestInStore is the highest version in the store that satisfies dep and
// has an accepted build.
func (w *Workspace) bestInStore(ctx context.Context, dep resolver.Requirement, pre bool,
	accept func(name, version string, spec resolver.SpecifierSet) (*store.Entry, string, error)) (*store.Entry, string, error) {
	ents, err := w.Store.Find(ctx, dep.Name, "")
	if err != nil {
		return nil, "", err
	}
	var versions []resolver.Version
	seen := map[string]bool{}
	for _, en := range ents {
		public, _, _ := strings.Cut(en.Version, "+")
		v, err := resolver.ParseVersion(public)
		if err != nil || seen[public] || !dep.Specifier.Contains(v, pre) {
			continue
		}
		seen[public] = true
		versions = append(versions, v)
	}
	slices.SortFunc(versions, func(a, b resolver.Version) int { return resolver.Compare(b, a) })
	for _, v := range versions {
		public := publicString(ents, v)
		en, why, err := accept(dep.Name, public, dep.Specifier)
		if err != nil {
			return nil, "", err
		}
		if why == "" {
			return en, "", nil
		}
	}
	return nil, fmt.Sprintf("no accepted build satisfying %s is in the store", dep.String()), nil
}

// publicString is the spelling of public version v as the store records it.
func publicString(ents []*store.Entry, v resolver.Version) string {
	for _, en := range ents {
		public, _, _ := strings.Cut(en.Version, "+")
		if pv, err := resolver.ParseVersion(public); err == nil && resolver.Compare(pv, v) == 0 {
			return public
		}
	}
	return v.String()
}

// pinnedVersion is the version of an exact pin: one == clause without a
// wildcard, or ===.
func pinnedVersion(r resolver.Requirement) (string, bool) {
	specs := r.Specifier.Specifiers()
	if r.URL != "" || len(specs) != 1 {
		return "", false
	}
	s := specs[0]
	if (s.Op != "==" && s.Op != "===") || strings.HasSuffix(s.Operand, ".*") {
		return "", false
	}
	return s.Operand, true
}

func pipConstraintsAllow(cs []resolver.Requirement, en *store.Entry) bool {
	v, err := resolver.ParseVersion(en.Version)
	if err != nil {
		return false
	}
	for _, c := range cs {
		if c.Normalized == en.NormName && !c.Specifier.Contains(v, true) {
			return false
		}
	}
	return true
}

func pipPythonAllows(spec string, py resolver.Version) bool {
	if strings.TrimSpace(spec) == "" {
		return true
	}
	s, err := resolver.ParseSpecifierSet(spec)
	return err == nil && s.Contains(py, true)
}

// graphRoots are the batch's projects that no other project of the batch
// requires.
func (w *Workspace) graphRoots(cands []candidate) []string {
	required := map[string]bool{}
	for _, c := range cands {
		m, err := entryMetadata(w.Store.EntryDir(c.entry.SHA256))
		if err != nil {
			continue
		}
		for _, raw := range m.RequiresDist {
			if r, err := resolver.ParseRequirement(raw); err == nil && r.Normalized != c.entry.NormName {
				required[r.Normalized] = true
			}
		}
	}
	var out []string
	for _, c := range cands {
		if !required[c.entry.NormName] {
			out = append(out, c.entry.NormName)
		}
	}
	return out
}
