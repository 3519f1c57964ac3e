package lockfile

import (
	"fmt"
	"strings"

	"github.com/forge-ml/forge/resolver"
	"github.com/forge-ml/forge/wheel"
)

// Target is the interpreter a lock file is read for.
type Target struct {
	// Env is its PEP 508 marker environment.
	Env resolver.MarkerEnv
	// Tags are the wheel tags it supports, most preferred first
	// (probe.SysTags).
	Tags []string
}

// Selected is a package the target installs and the wheel chosen for it.
type Selected struct {
	Package *Package
	Wheel   Wheel
	File    wheel.Filename
}

// Select returns, in file order, the packages whose marker holds for the
// target, each with its best wheel: the one whose most preferred tag comes
// first in t.Tags. When the file lists environments, the target must match
// one of them, and its Python version must be in requires-python. Errors (an *Error naming file): the target matches none of
// the environments (ErrNoWheel), two packages of one name both apply
// (ErrInvalid), a package applies but none of its wheels fits (ErrNoWheel,
// naming the package and the tags it offers).
func (l *Lock) Select(file string, t Target) ([]Selected, error) {
	if len(l.Environments) > 0 {
		ok := false
		for _, e := range l.Environments {
			if m, err := resolver.ParseMarker(e); err == nil && m.Evaluate(t.Env) {
				ok = true
				break
			}
		}
		if !ok {
			return nil, &Error{File: file, Problem: fmt.Sprintf("this interpreter matches none of the lock's environments (%s)", strings.Join(l.Environments, "; ")), Kind: ErrNoWheel}
		}
	}
	if l.RequiresPython != "" {
		spec, err := resolver.ParseSpecifierSet(l.RequiresPython)
		if err != nil {
			return nil, &Error{File: file, Problem: fmt.Sprintf("requires-python %q: %v", l.RequiresPython, err), Kind: ErrInvalid}
		}
		full := t.Env.Vars["python_full_version"]
		if v, err := resolver.ParseVersion(full); err == nil && !spec.Contains(v, true) {
			return nil, &Error{File: file, Problem: fmt.Sprintf("requires-python %s excludes this interpreter's Python %s", l.RequiresPython, full), Kind: ErrNoWheel}
		}
	}
	rank := make(map[string]int, len(t.Tags))
	for i, tag := range t.Tags {
		if _, dup := rank[tag]; !dup {
			rank[tag] = i
		}
	}
	var out []Selected
	chosen := map[string]string{} // normalised name → ID of the package chosen
	for i := range l.Packages {
		p := &l.Packages[i]
		if p.Marker != "" {
			m, err := resolver.ParseMarker(p.Marker)
			if err != nil {
				return nil, &Error{File: file, Package: p.ID(), Problem: "marker: " + err.Error(), Kind: ErrInvalid}
			}
			if !m.Evaluate(t.Env) {
				continue
			}
		}
		norm := wheel.NormalizeName(p.Name)
		if prev, dup := chosen[norm]; dup {
			return nil, &Error{File: file, Package: p.ID(), Problem: fmt.Sprintf("applies to this interpreter as %s does: a name may be installed once", prev), Kind: ErrInvalid}
		}
		chosen[norm] = p.ID()
		s, err := bestWheel(p, rank)
		if err != nil {
			return nil, &Error{File: file, Package: p.ID(), Problem: err.Error(), Kind: ErrNoWheel}
		}
		out = append(out, s)
	}
	return out, nil
}

func bestWheel(p *Package, rank map[string]int) (Selected, error) {
	best, bestRank := -1, 0
	var bestFile wheel.Filename
	var offered []string
	for i, w := range p.Wheels {
		wf, err := wheel.ParseFilename(w.FileName())
		if err != nil {
			return Selected{}, err
		}
		offered = append(offered, w.FileName())
		for _, tag := range wf.Tags {
			if r, ok := rank[tag.String()]; ok && (best < 0 || r < bestRank) {
				best, bestRank, bestFile = i, r, wf
			}
		}
	}
	if best >= 0 {
		return Selected{Package: p, Wheel: p.Wheels[best], File: bestFile}, nil
	}
	switch {
	case len(p.Wheels) > 0:
		return Selected{}, fmt.Errorf("none of its wheels fits this interpreter and platform (offered: %s)", strings.Join(offered, ", "))
	case p.Sdist != nil || p.VCS != nil || p.Directory != nil || p.Archive != nil:
		return Selected{}, fmt.Errorf("only a source (sdist, vcs, directory or archive) is locked; forge installs wheels only")
	}
	return Selected{}, fmt.Errorf("no wheel is locked")
}
