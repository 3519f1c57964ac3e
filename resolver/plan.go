package resolver

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/forge-ml/forge/internal/pyname"
)

// Build is one installable artifact of one version of a project: for forge,
// a wheel in the store. The planner reads its fields and hands it back to
// the Candidates that listed it; it never opens anything itself.
type Build struct {
	Name     string // the project name as the source spells it
	NormName string // PEP 503 normalised
	Version  string // as recorded, with any +local label
	ID       string // the source's handle (forge: the entry's sha256)
}

// BuildMetadata is the part of a build's core metadata the planner reads.
type BuildMetadata struct {
	RequiresDist   []string
	RequiresPython string
}

// Candidates is what a plan is chosen from, in the manner of cmd/go's
// mvs.Reqs: the planner decides, the implementation does the I/O. Every
// method may be called several times with the same arguments; caching is
// the implementation's business.
type Candidates interface {
	// Builds lists the builds of project name; version "" lists every
	// version, otherwise the builds whose recorded version is version or
	// version+"+local". The order is the implementation's and is kept.
	Builds(name, version string) ([]Build, error)
	// Metadata reads a build's Requires-Dist and Requires-Python. A build
	// whose metadata cannot be read is never chosen.
	Metadata(b Build) (BuildMetadata, error)
	// Admit chooses which of builds (all of project name, version version,
	// each already allowed by the requirement, the constraints and
	// Requires-Python) the caller accepts on its host: its index, or -1 and
	// the reason none is (for forge, the ABI engine's verdict).
	Admit(name, version string, builds []Build) (int, string)
}

// PlanRoot is one requirement the user named.
type PlanRoot struct {
	Raw string // as written, for messages
	Req Requirement
}

// PlanRequest is what to plan: the user's active requirements (those whose
// marker holds), constraints (-c files), the interpreter and its markers.
type PlanRequest struct {
	Roots       []PlanRoot
	Constraints []Requirement
	Python      string    // the interpreter's version
	Env         MarkerEnv // marker variables; extras are set per package
	NoDeps      bool      // do not follow Requires-Dist
	Pre         bool      // dependencies may take pre-releases
}

// Plan is a complete install plan: NAME==VERSION specs, the requested
// projects and then the dependencies, each in the order first reached.
type Plan struct {
	Requested []string
	Deps      []string
}

// PlanInstall decides whether src alone serves req. Every root must be
// pinned with == (no wildcard, or ===) and have an admitted build of that
// version; every dependency its Requires-Dist needs (markers and extras
// evaluated for req.Env) takes the highest version with an admitted build
// that satisfies every requirement and constraint seen so far. A build is
// considered only when the requirement, the constraints and its
// Requires-Python allow it; among those, Admit chooses.
//
// reason says why src cannot serve req (a caller falls back to a full
// resolver such as pip); "" means the plan is complete. err is an error of
// src's I/O only.
func PlanInstall(src Candidates, req PlanRequest) (plan Plan, reason string, err error) {
	py, verr := ParseVersion(req.Python)
	if verr != nil {
		return plan, "interpreter version " + req.Python + " is not PEP 440", nil
	}
	p := &planner{src: src, req: req, python: py, chosen: map[string]*pick{}}
	for _, r := range req.Roots {
		if reason, err := p.addRoot(r); err != nil || reason != "" {
			return plan, reason, err
		}
	}
	if len(p.order) == 0 {
		return plan, "no requirement applies to this environment", nil
	}
	for !req.NoDeps && len(p.work) > 0 {
		n := p.work[0]
		p.work = p.work[1:]
		if reason, err := p.expand(p.chosen[n]); err != nil || reason != "" {
			return plan, reason, err
		}
	}
	for _, n := range p.order {
		if pk := p.chosen[n]; pk.top {
			plan.Requested = append(plan.Requested, pk.spec)
		} else {
			plan.Deps = append(plan.Deps, pk.spec)
		}
	}
	return plan, "", nil
}

// pick is one project the plan chose.
type pick struct {
	build  Build
	spec   string // NAME==VERSION
	extras map[string]bool
	top    bool
}

// addExtras adds extras (normalised) and says whether any was new.
func (pk *pick) addExtras(extras []string) bool {
	grew := false
	for _, x := range extras {
		x = pyname.Normalize(x)
		if !pk.extras[x] {
			pk.extras[x], grew = true, true
		}
	}
	return grew
}

// satisfies reports whether the chosen version meets spec.
func (pk *pick) satisfies(spec SpecifierSet) bool {
	v, _ := ParseVersion(pk.build.Version)
	return spec.Contains(v, true)
}

type planner struct {
	src    Candidates
	req    PlanRequest
	python Version
	chosen map[string]*pick // by normalised name
	order  []string         // normalised names, first chosen first
	work   []string         // normalised names whose requirements are to be read
}

// choose records a new pick and queues its requirements.
func (p *planner) choose(norm string, pk *pick, extras []string) {
	pk.extras = map[string]bool{}
	pk.addExtras(extras)
	p.chosen[norm] = pk
	p.order = append(p.order, norm)
	p.work = append(p.work, norm)
}

func (p *planner) addRoot(r PlanRoot) (string, error) {
	version, ok := r.Req.Pinned()
	if !ok {
		return fmt.Sprintf("%s is not pinned with ==", r.Raw), nil
	}
	if pk, ok := p.chosen[r.Req.Normalized]; ok {
		if !pk.satisfies(r.Req.Specifier) {
			return fmt.Sprintf("%s and %s disagree", r.Raw, pk.spec), nil
		}
		if pk.addExtras(r.Req.Extras) {
			p.work = append(p.work, r.Req.Normalized)
		}
		return "", nil
	}
	b, why, err := p.accept(r.Req.Name, version, r.Req.Specifier)
	if err != nil || why != "" {
		return why, err
	}
	p.choose(r.Req.Normalized, &pick{build: b, spec: r.Req.Name + "==" + version, top: true}, r.Req.Extras)
	return "", nil
}

// expand reads a pick's Requires-Dist, with its extras active.
func (p *planner) expand(pk *pick) (string, error) {
	m, err := p.src.Metadata(pk.build)
	if err != nil {
		return fmt.Sprintf("%s %s: cannot read its metadata: %v", pk.build.Name, pk.build.Version, err), nil
	}
	var extras []string
	for x := range pk.extras {
		extras = append(extras, x)
	}
	sort.Strings(extras)
	env := p.req.Env.WithExtras(extras...)
	for _, raw := range m.RequiresDist {
		if reason, err := p.addDep(pk, raw, env); err != nil || reason != "" {
			return reason, err
		}
	}
	return "", nil
}

// addDep handles one Requires-Dist line of by.
func (p *planner) addDep(by *pick, raw string, env MarkerEnv) (string, error) {
	dep, err := ParseRequirement(raw)
	if err != nil {
		return fmt.Sprintf("%s declares %q, which forge cannot read", by.build.Name, raw), nil
	}
	if !dep.Marker.Evaluate(env) {
		return "", nil
	}
	if dep.URL != "" {
		return fmt.Sprintf("%s requires %s by URL", by.build.Name, raw), nil
	}
	if have, ok := p.chosen[dep.Normalized]; ok {
		if !have.satisfies(dep.Specifier) {
			return fmt.Sprintf("%s requires %s, but %s %s was chosen", by.build.Name, raw, have.build.Name, have.build.Version), nil
		}
		if have.addExtras(dep.Extras) {
			p.work = append(p.work, dep.Normalized)
		}
		return "", nil
	}
	b, why, err := p.best(dep)
	if err != nil || why != "" {
		return why, err
	}
	public, _, _ := strings.Cut(b.Version, "+")
	p.choose(dep.Normalized, &pick{build: b, spec: dep.Name + "==" + public}, dep.Extras)
	return "", nil
}

// accept picks an admitted build among the builds of one version.
func (p *planner) accept(name, version string, spec SpecifierSet) (Build, string, error) {
	builds, err := p.src.Builds(name, version)
	if err != nil {
		return Build{}, "", err
	}
	var keep []Build
	for _, b := range builds {
		if p.allows(b, spec) {
			keep = append(keep, b)
		}
	}
	if len(keep) == 0 {
		return Build{}, fmt.Sprintf("%s==%s is not in the store", name, version), nil
	}
	idx, why := p.src.Admit(name, version, keep)
	if idx < 0 || idx >= len(keep) {
		if why == "" {
			why = fmt.Sprintf("no build of %s==%s is admitted", name, version)
		}
		return Build{}, why, nil
	}
	return keep[idx], "", nil
}

// allows reports whether spec, the constraints and the build's
// Requires-Python let b be considered.
func (p *planner) allows(b Build, spec SpecifierSet) bool {
	v, err := ParseVersion(b.Version)
	if err != nil || !spec.Contains(v, true) || !constraintsAllow(p.req.Constraints, b.NormName, v) {
		return false
	}
	m, err := p.src.Metadata(b)
	return err == nil && pythonAllows(m.RequiresPython, p.python)
}

// best is the highest version that satisfies dep and has an admitted build.
func (p *planner) best(dep Requirement) (Build, string, error) {
	builds, err := p.src.Builds(dep.Name, "")
	if err != nil {
		return Build{}, "", err
	}
	var versions []Version
	seen := map[string]bool{}
	for _, b := range builds {
		public, _, _ := strings.Cut(b.Version, "+")
		v, err := ParseVersion(public)
		if err != nil || seen[public] || !dep.Specifier.Contains(v, p.req.Pre) {
			continue
		}
		seen[public] = true
		versions = append(versions, v)
	}
	slices.SortFunc(versions, func(a, b Version) int { return Compare(b, a) })
	for _, v := range versions {
		b, why, err := p.accept(dep.Name, publicSpelling(builds, v), dep.Specifier)
		if err != nil {
			return Build{}, "", err
		}
		if why == "" {
			return b, "", nil
		}
	}
	return Build{}, fmt.Sprintf("no accepted build satisfying %s is in the store", dep.String()), nil
}

// publicSpelling is the spelling of public version v as builds record it.
func publicSpelling(builds []Build, v Version) string {
	for _, b := range builds {
		public, _, _ := strings.Cut(b.Version, "+")
		if pv, err := ParseVersion(public); err == nil && Compare(pv, v) == 0 {
			return public
		}
	}
	return v.String()
}

// Pinned is the version of an exact pin: one == clause without a wildcard,
// or ===.
func (r Requirement) Pinned() (string, bool) {
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

// constraintsAllow reports whether every constraint on project norm admits v.
func constraintsAllow(cs []Requirement, norm string, v Version) bool {
	for _, c := range cs {
		if c.Normalized == norm && !c.Specifier.Contains(v, true) {
			return false
		}
	}
	return true
}

// pythonAllows reports whether a Requires-Python value admits py; an empty
// one admits every interpreter, an unreadable one none.
func pythonAllows(spec string, py Version) bool {
	if strings.TrimSpace(spec) == "" {
		return true
	}
	s, err := ParseSpecifierSet(spec)
	return err == nil && s.Contains(py, true)
}

// Node is one project of a batch and what it requires.
type Node struct {
	Normalized   string
	RequiresDist []string // raw lines; unreadable ones are ignored
}

// GraphRoots are the batch's projects that no other project of the batch
// requires (a project requiring itself does not count), in batch order.
func GraphRoots(batch []Node) []string {
	required := map[string]bool{}
	for _, n := range batch {
		for _, raw := range n.RequiresDist {
			if r, err := ParseRequirement(raw); err == nil && r.Normalized != n.Normalized {
				required[r.Normalized] = true
			}
		}
	}
	var out []string
	for _, n := range batch {
		if !required[n.Normalized] {
			out = append(out, n.Normalized)
		}
	}
	return out
}
