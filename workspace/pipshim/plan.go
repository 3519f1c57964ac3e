package pipshim

import (
	"context"
	"fmt"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/resolver"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
)

// storePlan is what the fast path links: NAME==VERSION specs.
type storePlan struct {
	requested, deps []string
}

// planFromStore decides whether the store alone serves the request: every
// active requirement pinned with == (no wildcard), an accepted build of it
// in the store, and the same for everything its Requires-Dist needs
// (markers and extras evaluated for the environment; unpinned dependencies
// take the highest version in the store that satisfies every requirement
// and constraint). reason says why not; "" means plan is complete. The
// decision is resolver.PlanInstall's; this reads the store and asks the ABI
// engine for it (storeCandidates).
func planFromStore(ctx context.Context, w *workspace.Workspace, e *workspace.Env, req *pipRequest, host *abi.Host, policy abi.Policy, gpu string, menv resolver.MarkerEnv) (plan storePlan, reason string, err error) {
	if req.noFastPath != "" {
		return plan, req.noFastPath, nil
	}
	in := resolver.PlanRequest{Constraints: req.constraints, Python: e.Py.Version, Env: menv, NoDeps: req.noDeps, Pre: req.pre}
	for _, r := range req.reqs {
		if r.active {
			in.Roots = append(in.Roots, resolver.PlanRoot{Raw: r.raw, Req: r.req})
		}
	}
	src := &storeCandidates{ctx: ctx, w: w, host: host, policy: policy, gpu: gpu,
		entries: map[string]*store.Entry{}, meta: map[string]resolver.BuildMetadata{}}
	p, reason, err := resolver.PlanInstall(src, in)
	return storePlan{requested: p.Requested, deps: p.Deps}, reason, err
}

// storeCandidates is resolver.Candidates over the store: builds are store
// entries, metadata is read from their METADATA, and a build is admitted
// when abi.ChooseFlavour picks it and abi.Evaluate does not refuse it.
type storeCandidates struct {
	ctx     context.Context
	w       *workspace.Workspace
	host    *abi.Host
	policy  abi.Policy
	gpu     string
	entries map[string]*store.Entry           // by sha256, every entry Builds returned
	meta    map[string]resolver.BuildMetadata // by sha256, metadata read without error
}

func (s *storeCandidates) Builds(name, version string) ([]resolver.Build, error) {
	ents, err := s.w.Store.Find(s.ctx, name, version)
	if err != nil {
		return nil, err
	}
	out := make([]resolver.Build, len(ents))
	for i, en := range ents {
		s.entries[en.SHA256] = en
		out[i] = resolver.Build{Name: en.Name, NormName: en.NormName, Version: en.Version, ID: en.SHA256}
	}
	return out, nil
}

func (s *storeCandidates) Metadata(b resolver.Build) (resolver.BuildMetadata, error) {
	if m, ok := s.meta[b.ID]; ok {
		return m, nil
	}
	m, err := workspace.EntryMetadata(s.w.Store.EntryDir(b.ID))
	if err != nil {
		return resolver.BuildMetadata{}, err
	}
	bm := resolver.BuildMetadata{RequiresDist: m.RequiresDist, RequiresPython: m.RequiresPython}
	s.meta[b.ID] = bm
	return bm, nil
}

func (s *storeCandidates) Admit(name, version string, builds []resolver.Build) (int, string) {
	fps := make([]*abi.Fingerprint, len(builds))
	for i, b := range builds {
		fps[i] = &s.entries[b.ID].Fingerprint
	}
	g := s.gpu
	if g == "" {
		g = "auto"
	}
	idx, _, cerr := abi.ChooseFlavour(fps, s.host, s.policy, g)
	if cerr != nil || idx < 0 || abi.Evaluate(fps[idx], s.host, s.policy, abi.CheckOptions{}).Refused() {
		return -1, fmt.Sprintf("no build of %s==%s in the store is accepted on %s", name, version, workspace.HostName(s.host))
	}
	return idx, ""
}

// pinnedVersion is the version of an exact pin: one == clause without a
// wildcard, or ===.
func pinnedVersion(r resolver.Requirement) (string, bool) { return r.Pinned() }

// graphRoots are the batch's projects that no other project of the batch
// requires.
func graphRoots(w *workspace.Workspace, cands []*store.Entry) []string {
	batch := make([]resolver.Node, len(cands))
	for i, en := range cands {
		batch[i].Normalized = en.NormName
		if m, err := workspace.EntryMetadata(w.Store.EntryDir(en.SHA256)); err == nil {
			batch[i].RequiresDist = m.RequiresDist
		}
	}
	return resolver.GraphRoots(batch)
}
