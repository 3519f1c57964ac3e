package resolver

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/forge-ml/forge/internal/pyname"
)

// ErrConflict is wrapped by Resolution.Err when a strict resolution found
// dependency conflicts; the CLI maps it to exit code 3.
var ErrConflict = errors.New("dependency conflict")

// ErrInvalidMode is wrapped by ParseMode and ParseLayerKind errors.
var ErrInvalidMode = errors.New("invalid resolver mode")

// LayerKind says where a layer sits in an environment's stack.
type LayerKind int

// Layer kinds, from most to least local.
const (
	Local LayerKind = iota
	Parent
	Global
)

var layerKindNames = []string{"LOCAL", "PARENT", "GLOBAL"}

func (k LayerKind) String() string {
	if k >= 0 && int(k) < len(layerKindNames) {
		return layerKindNames[k]
	}
	return fmt.Sprintf("LayerKind(%d)", int(k))
}

// MarshalText writes "LOCAL", "PARENT" or "GLOBAL".
func (k LayerKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads what MarshalText writes.
func (k *LayerKind) UnmarshalText(b []byte) error {
	v, err := ParseLayerKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// ParseLayerKind reads "LOCAL", "PARENT" or "GLOBAL" (case-insensitive); the
// error wraps ErrInvalidMode and lists the valid values.
func ParseLayerKind(s string) (LayerKind, error) {
	i := slices.Index(layerKindNames, strings.ToUpper(strings.TrimSpace(s)))
	if i < 0 {
		return 0, fmt.Errorf("%w: layer kind %q: valid kinds are %s", ErrInvalidMode, s, strings.Join(layerKindNames, ", "))
	}
	return LayerKind(i), nil
}

// Mode is the conflict mode of a resolution.
type Mode int

// Conflict modes: Loose reports nothing, Warn reports conflicts, Strict
// reports them and makes Resolution.Err fail.
const (
	Loose Mode = iota
	Warn
	Strict
)

var modeNames = []string{"loose", "warn", "strict"}

func (m Mode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// MarshalText writes "loose", "warn" or "strict".
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText reads what MarshalText writes.
func (m *Mode) UnmarshalText(b []byte) error {
	v, err := ParseMode(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// ParseMode reads "loose", "warn" or "strict" (case-insensitive); the error
// wraps ErrInvalidMode and lists the valid values.
func ParseMode(s string) (Mode, error) {
	i := slices.Index(modeNames, strings.ToLower(strings.TrimSpace(s)))
	if i < 0 {
		return 0, fmt.Errorf("%w %q: valid modes are %s", ErrInvalidMode, s, strings.Join(modeNames, ", "))
	}
	return Mode(i), nil
}

// Package is one installed distribution as a layer holds it.
type Package struct {
	Name      string   `json:"name"`
	Version   string   `json:"version"`
	Requires  []string `json:"requires,omitempty"` // raw Requires-Dist lines
	Extras    []string `json:"extras,omitempty"`   // Provides-Extra
	Entry     string   `json:"entry,omitempty"`    // store entry (sha256 of the wheel)
	Requested bool     `json:"requested,omitempty"`
}

// Layer is one level of an environment's stack: its own site-packages
// (Local), an ancestor's (Parent) or the shared GLOBAL layer.
type Layer struct {
	Name     string    `json:"name"` // environment name, or "GLOBAL"
	Kind     LayerKind `json:"kind"`
	Packages []Package `json:"packages"`
}

// Source is a layer's copy of a package that a more local layer shadows.
type Source struct {
	Layer     string    `json:"layer"`
	LayerKind LayerKind `json:"layer_kind"`
	Version   string    `json:"version"`
	Entry     string    `json:"entry,omitempty"`
}

// Effective is the copy of a package an environment's interpreter imports.
type Effective struct {
	Name            string    `json:"name"`
	Normalized      string    `json:"normalized"`
	Version         string    `json:"version"`
	Layer           string    `json:"layer"`
	LayerKind       LayerKind `json:"layer_kind"`
	Entry           string    `json:"entry,omitempty"`
	Requested       bool      `json:"requested"`
	Reason          string    `json:"reason"`
	ShadowedSources []Source  `json:"shadowed_sources"`
	// ActiveExtras are the extras other effective packages request of this
	// one (normalised, sorted); their requirements are checked too.
	ActiveExtras []string `json:"active_extras,omitempty"`
}

// Conflict kinds.
const (
	// KindUnsatisfied: the effective version does not satisfy a requirement.
	KindUnsatisfied = "unsatisfied"
	// KindMissing: no layer provides a required distribution.
	KindMissing = "missing"
	// KindShadowBreaksParent: a more local layer shadows the version the
	// requirer's own layers provide, which satisfied it, with one that does
	// not.
	KindShadowBreaksParent = "shadow_breaks_parent"
	// KindInvalidRequirement: a Requires-Dist line or an installed version is
	// not valid PEP 508 / PEP 440, so it cannot be checked.
	KindInvalidRequirement = "invalid_requirement"
)

// Conflict is one requirement of an effective package that the effective set
// does not meet.
type Conflict struct {
	Package         string `json:"package"`     // normalised name of the required distribution
	Requirement     string `json:"requirement"` // the Requires-Dist line as written
	RequiredBy      string `json:"required_by"`
	RequiredByLayer string `json:"required_by_layer"`
	Found           string `json:"found"` // effective version; "" when missing
	FoundLayer      string `json:"found_layer"`
	Message         string `json:"message"`
	Kind            string `json:"kind"`
}

// Resolution is the effective package set of an environment and the
// conflicts its mode reports. Packages are sorted by normalised name,
// Conflicts by requirer, then required package, then requirement.
type Resolution struct {
	Mode      Mode        `json:"mode"`
	Packages  []Effective `json:"packages"`
	Conflicts []Conflict  `json:"conflicts"`
}

// ConflictError is what Resolution.Err returns; it wraps ErrConflict.
type ConflictError struct {
	Conflicts []Conflict
}

func (e *ConflictError) Error() string {
	msgs := make([]string, len(e.Conflicts))
	for i, c := range e.Conflicts {
		msgs[i] = c.Message
	}
	noun := "conflicts"
	if len(msgs) == 1 {
		noun = "conflict"
	}
	return fmt.Sprintf("%d dependency %s: %s", len(msgs), noun, strings.Join(msgs, "; "))
}

func (e *ConflictError) Unwrap() error { return ErrConflict }

// Err is nil unless the mode is Strict and conflicts were found; then it is
// a *ConflictError wrapping ErrConflict.
func (r Resolution) Err() error {
	if r.Mode != Strict || len(r.Conflicts) == 0 {
		return nil
	}
	return &ConflictError{Conflicts: r.Conflicts}
}

// Inspect finds the effective package called name (any spelling) and the
// conflicts in which it is the requirer or the required package.
func Inspect(res Resolution, name string) (Effective, []Conflict, bool) {
	norm := pyname.Normalize(name)
	i, ok := slices.BinarySearchFunc(res.Packages, norm, func(e Effective, n string) int {
		return cmp.Compare(e.Normalized, n)
	})
	var conflicts []Conflict
	for _, c := range res.Conflicts {
		if c.Package == norm || pyname.Normalize(c.RequiredBy) == norm {
			conflicts = append(conflicts, c)
		}
	}
	if !ok {
		return Effective{}, conflicts, false
	}
	return res.Packages[i], conflicts, true
}

// candidate is one layer's copy of a package.
type candidate struct {
	layer int
	pkg   *Package
}

// Resolve computes the effective package set over layers, ordered from the
// most local (LOCAL first, then parents nearest first, then GLOBAL): the
// first layer holding a name wins. It then checks every Requires-Dist of
// every winner whose marker holds in env (env.Extras is ignored: the extras
// in play are those the effective packages request of each other, followed
// transitively) against the winners' versions, pre-releases allowed when
// the installed version is one. Loose mode reports no conflicts.
//
// Resolve does no I/O and does not modify its arguments.
func Resolve(layers []Layer, env MarkerEnv, mode Mode) Resolution {
	sources := map[string][]candidate{}
	for li := range layers {
		for pi := range layers[li].Packages {
			p := &layers[li].Packages[pi]
			n := pyname.Normalize(p.Name)
			if c := sources[n]; len(c) > 0 && c[len(c)-1].layer == li {
				continue // a layer holds one copy of a name; the first listed counts
			}
			sources[n] = append(sources[n], candidate{layer: li, pkg: p})
		}
	}
	res := Resolution{Mode: mode, Packages: []Effective{}, Conflicts: []Conflict{}}
	for n, cands := range sources {
		res.Packages = append(res.Packages, effectiveOf(layers, n, cands))
	}
	slices.SortFunc(res.Packages, func(a, b Effective) int { return cmp.Compare(a.Normalized, b.Normalized) })

	c := checker{layers: layers, sources: sources, vars: env.Vars, extras: map[string]map[string]bool{}}
	c.propagateExtras()
	for i := range res.Packages {
		e := &res.Packages[i]
		for x := range c.extras[e.Normalized] {
			e.ActiveExtras = append(e.ActiveExtras, x)
		}
		slices.Sort(e.ActiveExtras)
	}
	if mode != Loose {
		res.Conflicts = c.conflicts()
	}
	return res
}

func effectiveOf(layers []Layer, norm string, cands []candidate) Effective {
	w := cands[0]
	e := Effective{
		Name:            w.pkg.Name,
		Normalized:      norm,
		Version:         w.pkg.Version,
		Layer:           layers[w.layer].Name,
		LayerKind:       layers[w.layer].Kind,
		Entry:           w.pkg.Entry,
		Requested:       w.pkg.Requested,
		ShadowedSources: []Source{},
	}
	var shadowed []string
	for _, s := range cands[1:] {
		l := layers[s.layer]
		e.ShadowedSources = append(e.ShadowedSources, Source{Layer: l.Name, LayerKind: l.Kind, Version: s.pkg.Version, Entry: s.pkg.Entry})
		shadowed = append(shadowed, fmt.Sprintf("%s (%s)", shadowedLayerPhrase(l), s.pkg.Version))
	}
	if len(shadowed) == 0 {
		e.Reason = "only in " + layerPhrase(layers[w.layer])
	} else {
		e.Reason = layerPhrase(layers[w.layer]) + " shadows " + joinAnd(shadowed)
	}
	return e
}

// layerPhrase names a winning layer: "LOCAL layer of app", "PARENT layer
// base", "GLOBAL".
func layerPhrase(l Layer) string {
	switch l.Kind {
	case Local:
		return "LOCAL layer of " + l.Name
	case Parent:
		return "PARENT layer " + l.Name
	}
	if l.Name == "" || l.Name == "GLOBAL" {
		return "GLOBAL"
	}
	return "GLOBAL layer " + l.Name
}

// shadowedLayerPhrase names a shadowed layer: "parent base", "GLOBAL".
func shadowedLayerPhrase(l Layer) string {
	if l.Kind == Parent {
		return "parent " + l.Name
	}
	return layerPhrase(l)
}

func joinAnd(items []string) string {
	if len(items) <= 1 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

type checker struct {
	layers  []Layer
	sources map[string][]candidate
	vars    map[string]string
	extras  map[string]map[string]bool // normalised name → extras requested of it
}

// activeRequirements yields the winner's parsed requirements whose markers
// hold with the extras requested of it so far; unparsable lines come back
// with their error.
func (c *checker) activeRequirements(norm string, fn func(raw string, r Requirement, err error)) {
	w := c.sources[norm][0]
	var extras []string
	for x := range c.extras[norm] {
		extras = append(extras, x)
	}
	slices.Sort(extras)
	env := MarkerEnv{Vars: c.vars, Extras: extras}
	for _, raw := range w.pkg.Requires {
		r, err := ParseRequirement(raw)
		if err != nil {
			fn(raw, r, err)
			continue
		}
		if r.Marker.Evaluate(env) {
			fn(raw, r, nil)
		}
	}
}

// propagateExtras follows `x[dev]` requirements to a fixpoint: activating an
// extra can activate requirements that request further extras.
func (c *checker) propagateExtras() {
	names := make([]string, 0, len(c.sources))
	for n := range c.sources {
		names = append(names, n)
	}
	slices.Sort(names)
	work := names
	for len(work) > 0 {
		n := work[0]
		work = work[1:]
		c.activeRequirements(n, func(_ string, r Requirement, err error) {
			if err != nil || len(r.Extras) == 0 {
				return
			}
			if _, ok := c.sources[r.Normalized]; !ok {
				return
			}
			set := c.extras[r.Normalized]
			if set == nil {
				set = map[string]bool{}
				c.extras[r.Normalized] = set
			}
			grew := false
			for _, x := range r.Extras {
				x = pyname.Normalize(x)
				if !set[x] {
					set[x], grew = true, true
				}
			}
			if grew {
				work = append(work, r.Normalized)
			}
		})
	}
}

func (c *checker) conflicts() []Conflict {
	out := []Conflict{}
	for n := range c.sources {
		req := c.sources[n][0]
		by, byLayer := req.pkg, c.layers[req.layer]
		who := fmt.Sprintf("%s %s (%s)", by.Name, by.Version, shadowedLayerPhrase(byLayer))
		c.activeRequirements(n, func(raw string, r Requirement, err error) {
			cf := Conflict{Requirement: strings.TrimSpace(raw), RequiredBy: by.Name, RequiredByLayer: byLayer.Name}
			if err != nil {
				cf.Kind = KindInvalidRequirement
				cf.Message = fmt.Sprintf("%s declares a requirement that cannot be checked: %v", who, err)
				out = append(out, cf)
				return
			}
			cf.Package = r.Normalized
			cands, ok := c.sources[r.Normalized]
			if !ok {
				cf.Kind = KindMissing
				cf.Message = fmt.Sprintf("%s requires %s, but no layer provides %s", who, cf.Requirement, r.Name)
				out = append(out, cf)
				return
			}
			w := cands[0]
			cf.Found, cf.FoundLayer = w.pkg.Version, c.layers[w.layer].Name
			if r.URL != "" {
				return // a direct reference names no version to check
			}
			v, err := ParseVersion(w.pkg.Version)
			if err != nil {
				cf.Kind = KindInvalidRequirement
				cf.Message = fmt.Sprintf("%s requires %s, but %s's installed version %q is not PEP 440", who, cf.Requirement, w.pkg.Name, w.pkg.Version)
				out = append(out, cf)
				return
			}
			if r.Specifier.Contains(v, v.IsPrerelease()) {
				return
			}
			found := fmt.Sprintf("%s %s in %s", w.pkg.Name, w.pkg.Version, shadowedLayerPhrase(c.layers[w.layer]))
			if own, ok := visibleFrom(cands, req.layer); w.layer < req.layer && ok && satisfies(r.Specifier, own.pkg.Version) {
				cf.Kind = KindShadowBreaksParent
				cf.Message = fmt.Sprintf("%s requires %s; %s shadows %s %s from %s, which satisfied it",
					who, cf.Requirement, found, own.pkg.Name, own.pkg.Version, shadowedLayerPhrase(c.layers[own.layer]))
			} else {
				cf.Kind = KindUnsatisfied
				cf.Message = fmt.Sprintf("%s requires %s, but %s is effective", who, cf.Requirement, found)
			}
			out = append(out, cf)
		})
	}
	slices.SortFunc(out, func(a, b Conflict) int {
		return cmp.Or(
			cmp.Compare(pyname.Normalize(a.RequiredBy), pyname.Normalize(b.RequiredBy)),
			cmp.Compare(a.Package, b.Package),
			cmp.Compare(a.Requirement, b.Requirement),
		)
	})
	return out
}

// visibleFrom is the copy a requirer in layer li would see on its own: the
// first candidate at li or further from LOCAL.
func visibleFrom(cands []candidate, li int) (candidate, bool) {
	for _, c := range cands {
		if c.layer >= li {
			return c, true
		}
	}
	return candidate{}, false
}

func satisfies(s SpecifierSet, version string) bool {
	v, err := ParseVersion(version)
	return err == nil && s.Contains(v, v.IsPrerelease())
}
