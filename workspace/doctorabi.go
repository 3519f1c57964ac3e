package workspace

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/linker"
	"github.com/forge-ml/forge/probe"
	"github.com/forge-ml/forge/store"
)

// ABIOptions are the inputs of DoctorABI.
type ABIOptions struct {
	// Envs limits the check to these environments (all when empty).
	Envs []string
}

// ABIPackage is one package's verdict in one environment.
type ABIPackage struct {
	Name     string        `json:"name"`
	Version  string        `json:"version"`
	Entry    string        `json:"entry"`
	Layer    string        `json:"layer"` // LOCAL, the parent's name, or GLOBAL
	Verdict  string        `json:"verdict"`
	Findings []abi.Finding `json:"findings"`
}

// ABIEnv is the ABI check of one environment.
type ABIEnv struct {
	Env      string       `json:"env"`
	Python   string       `json:"python"`
	Host     string       `json:"host"`
	Policy   string       `json:"policy"`
	Verdict  string       `json:"verdict"` // the worst of its packages
	Packages []ABIPackage `json:"packages"`
	Error    string       `json:"error,omitempty"`
}

// ABIReport is what DoctorABI found.
type ABIReport struct {
	Envs     []ABIEnv `json:"envs"`
	Checked  int      `json:"packages_checked"`
	Accepted int      `json:"accepted"`
	Warned   int      `json:"warned"`
	Refused  int      `json:"refused"`
}

// DoctorABI re-checks every package every environment sees (its own layer,
// its parents', GLOBAL: the winner of each name, as Python imports it)
// against the host — the --host-profile, else this machine probed with the
// environment's interpreter — under the environment's abi_policy. It uses
// the fingerprints stored at ingest and reads no wheel. A GLOBAL layer no
// environment uses is checked on its own under the default policy.
//
// Its cost grows with the number of (package, environment) pairs: every
// manifest row and entry is read in one query each, environments come from
// one listing, and each distinct fingerprint content is decoded, and each
// distinct (content, host, policy, provided libraries) checked, once (see
// abi.Evaluator). Packages of a report may share one Findings slice only
// when it is empty.
func (w *Workspace) DoctorABI(ctx context.Context, o ABIOptions) (*ABIReport, error) {
	envs, err := w.Store.ListEnvs(ctx)
	if err != nil {
		return nil, err
	}
	c := &abiDoctor{w: w, ev: abi.NewEvaluator(), hosts: map[string]*abi.Host{}, interps: map[string]interpResult{},
		byLayer: map[string][]store.Manifest{}, entries: map[string]*abiEntry{}}
	only := map[string]bool{}
	for _, n := range o.Envs {
		only[n] = true
	}
	// Manifests: all of them for a full check, else only the layers of the
	// environments asked for. Entries (and their fingerprints) are read only
	// when a checked layer links them, so one environment costs the same in
	// a store of fifty entries or of five thousand.
	opened := map[string]*Env{}
	var ms []store.Manifest
	var ents []store.ABIEntry
	if len(only) == 0 {
		// Every referenced entry in one query. (Reading both tables in
		// parallel, on two connections, saved 1 ms of 39 over 5,000 entries
		// and cost 1 ms of 8.5 over 50.)
		if ents, err = w.Store.ABIEntries(ctx, nil); err != nil {
			return nil, err
		}
		if ms, err = w.Store.LinkedManifests(ctx); err != nil {
			return nil, err
		}
	} else {
		var layers []string
		seen := map[string]bool{}
		for _, n := range slices.Sorted(func(yield func(string) bool) {
			for n := range only {
				if !yield(n) {
					return
				}
			}
		}) {
			e, err := w.OpenEnv(ctx, n)
			if err != nil {
				return nil, err
			}
			opened[n] = e
			ls := []string{e.Name, GlobalLayer(e.Py.XY())}
			for _, p := range e.Chain {
				ls = append(ls, p.Name)
			}
			for _, l := range ls {
				if !seen[l] {
					seen[l] = true
					layers = append(layers, l)
				}
			}
		}
		if ms, err = w.Store.LinkedManifests(ctx, layers...); err != nil {
			return nil, err
		}
	}
	if err := c.load(ctx, ms, ents, len(only) == 0); err != nil {
		return nil, err
	}
	rows := make(map[string]*store.EnvRow, len(envs))
	for _, row := range envs {
		rows[row.Name] = row
	}
	rep := &ABIReport{Envs: []ABIEnv{}}
	usedGlobals := map[string]bool{}
	for _, row := range envs {
		usedGlobals[GlobalLayer(pyXY(row.PythonVersion))] = true
		if len(only) > 0 && !only[row.Name] {
			continue
		}
		ae := ABIEnv{Env: row.Name, Python: row.PythonVersion, Packages: []ABIPackage{}}
		e := opened[row.Name]
		if e == nil {
			e, err = c.openEnv(ctx, row, rows)
		}
		if err != nil {
			ae.Error, ae.Verdict = err.Error(), abi.Refuse
			rep.Envs = append(rep.Envs, ae)
			continue
		}
		policy := abi.DefaultPolicy
		if ps := e.Settings["abi_policy"]; ps != "" {
			if p, err := abi.ParsePolicy(ps); err == nil {
				policy = p
			}
		}
		host, err := w.cachedHost(c.hosts, e)
		if err != nil {
			ae.Error, ae.Verdict = err.Error(), abi.Refuse
			rep.Envs = append(rep.Envs, ae)
			continue
		}
		layers := []abiLayer{{e.Name, "LOCAL"}}
		for _, p := range e.Chain {
			layers = append(layers, abiLayer{p.Name, p.Name})
		}
		layers = append(layers, abiLayer{GlobalLayer(e.Py.XY()), "GLOBAL"})
		c.checkLayers(rep, &ae, layers, host, policy)
		rep.Envs = append(rep.Envs, ae)
	}
	if len(only) == 0 {
		var globals []string
		for l := range c.byLayer {
			if strings.HasPrefix(l, "GLOBAL/") && !usedGlobals[l] {
				globals = append(globals, l)
			}
		}
		sort.Strings(globals)
		for _, l := range globals {
			xy := strings.TrimPrefix(l, "GLOBAL/")
			ae := ABIEnv{Env: l, Python: xy, Packages: []ABIPackage{}}
			py, err := w.pythonXY(ctx, xy)
			var host *abi.Host
			if err == nil {
				host, err = w.cachedHost(c.hosts, &Env{EnvRow: store.EnvRow{Python: py.Executable}, Py: py})
			}
			if err != nil {
				ae.Error, ae.Verdict = err.Error(), abi.Refuse
				rep.Envs = append(rep.Envs, ae)
				continue
			}
			c.checkLayers(rep, &ae, []abiLayer{{l, "GLOBAL"}}, host, abi.DefaultPolicy)
			rep.Envs = append(rep.Envs, ae)
		}
	}
	return rep, nil
}

// abiDoctor is the state of one DoctorABI call.
type abiDoctor struct {
	w       *Workspace
	ev      *abi.Evaluator
	hosts   map[string]*abi.Host    // by interpreter path (cachedHost)
	interps map[string]interpResult // by interpreter path
	byLayer map[string][]store.Manifest
	entries map[string]*abiEntry // linked entries whose fingerprint decodes
}

type interpResult struct {
	py  *probe.Interp
	err error
}

// abiEntry is a linked entry with its fingerprint decoded for Check: fp is
// shared by entries of the same verdict-relevant content (key), so the
// entry's name and version come from its row.
type abiEntry struct {
	row store.ABIEntry
	fp  *abi.Fingerprint
	key string
}

type abiLayer struct{ key, label string }

// load reads the entries the manifests link; for a full check, ents are
// every referenced entry. An entry that has no row, or whose row or
// fingerprint cannot be read, is left out: doctor reports it.
func (c *abiDoctor) load(ctx context.Context, ms []store.Manifest, ents []store.ABIEntry, all bool) error {
	var shas []string
	for _, m := range ms {
		c.byLayer[m.Layer] = append(c.byLayer[m.Layer], m)
		if _, ok := c.entries[m.Entry]; !ok {
			c.entries[m.Entry] = nil
			shas = append(shas, m.Entry)
		}
	}
	add := func(rows []store.ABIEntry) {
		for _, r := range rows {
			if en, want := c.entries[r.SHA256]; !want || en != nil {
				continue
			}
			fp, key, err := c.ev.Decode(r.Fingerprint)
			if err != nil {
				continue
			}
			r.Fingerprint = ""
			c.entries[r.SHA256] = &abiEntry{row: r, fp: fp, key: key}
		}
	}
	// In the order AllManifests gives (and Manifests, per layer).
	for _, l := range c.byLayer {
		slices.SortFunc(l, func(a, b store.Manifest) int { return strings.Compare(a.NormName, b.NormName) })
	}
	rows, err := ents, error(nil)
	if !all {
		if rows, err = c.w.Store.ABIEntries(ctx, shas); err != nil {
			return err
		}
	}
	add(rows)
	if all {
		// A linked entry whose refs are wrong (doctor reports that too) is
		// still checked, as Get would read it.
		var missing []string
		for _, sha := range shas {
			if c.entries[sha] == nil {
				missing = append(missing, sha)
			}
		}
		if len(missing) > 0 {
			if rows, err = c.w.Store.ABIEntries(ctx, missing); err != nil {
				return err
			}
			add(rows)
		}
	}
	for sha, en := range c.entries {
		if en == nil {
			delete(c.entries, sha)
		}
	}
	return nil
}

// openEnv is OpenEnv from rows already read: one interpreter lookup per
// interpreter path and no query. Anything OpenEnv would fail on in the
// parent chain is left to OpenEnv, so the error is the same.
func (c *abiDoctor) openEnv(ctx context.Context, row *store.EnvRow, rows map[string]*store.EnvRow) (*Env, error) {
	r, ok := c.interps[row.Python]
	if !ok {
		r.py, r.err = c.w.Interp(row.Python)
		c.interps[row.Python] = r
	}
	if r.err != nil {
		return nil, fmt.Errorf("environment %s: %w", row.Name, r.err)
	}
	e := &Env{EnvRow: *row, Py: r.py, Venv: linker.Venv{Root: row.Path, Python: r.py}}
	seen := map[string]bool{row.Name: true}
	for p := row.Parent; p != ""; {
		pr, ok := rows[p]
		if !ok || seen[p] {
			return c.w.OpenEnv(ctx, row.Name)
		}
		seen[p] = true
		e.Chain = append(e.Chain, pr)
		p = pr.Parent
	}
	return e, nil
}

func (w *Workspace) cachedHost(cache map[string]*abi.Host, e *Env) (*abi.Host, error) {
	if h, ok := cache[e.Python]; ok {
		return h, nil
	}
	h, err := w.hostFor(e)
	if err != nil {
		return nil, err
	}
	cache[e.Python] = h
	return h, nil
}

// checkLayers evaluates the winner of every name across layers (nearest
// first); the libraries every layer ships count as provided.
func (c *abiDoctor) checkLayers(rep *ABIReport, ae *ABIEnv, layers []abiLayer, host *abi.Host, policy abi.Policy) {
	ae.Host, ae.Policy, ae.Verdict = hostName(host), string(policy), abi.Accept
	seen := map[string]bool{}
	libs := map[string]bool{}
	var picks []abiPick
	for _, l := range layers {
		for _, m := range c.byLayer[l.key] {
			en, ok := c.entries[m.Entry]
			if !ok {
				continue // doctor reports it
			}
			for _, el := range en.fp.ELFs {
				libs[filepath.Base(el.Path)] = true
				if el.Soname != "" {
					libs[el.Soname] = true
				}
			}
			if seen[m.NormName] {
				continue
			}
			seen[m.NormName] = true
			picks = append(picks, abiPick{en, l.label})
		}
	}
	provided := make([]string, 0, len(libs))
	for s := range libs {
		provided = append(provided, s)
	}
	sort.Strings(provided)
	sort.SliceStable(picks, func(i, j int) bool { return picks[i].en.row.NormName < picks[j].en.row.NormName })
	ae.Packages = slices.Grow(ae.Packages, len(picks))
	for _, p := range picks {
		v := c.ev.Evaluate(p.en.key, p.en.fp, host, policy, abi.CheckOptions{ProvidedLibs: provided})
		f := []abi.Finding{}
		if len(v.Findings) > 0 {
			f = slices.Clone(v.Findings)
		}
		en := &p.en.row
		ae.Packages = append(ae.Packages, ABIPackage{Name: en.Name, Version: en.Version, Entry: en.SHA256, Layer: p.label, Verdict: v.Verdict, Findings: f})
		rep.Checked++
		switch v.Verdict {
		case abi.Refuse:
			rep.Refused++
			ae.Verdict = abi.Refuse
		case abi.Warn:
			rep.Warned++
			if ae.Verdict == abi.Accept {
				ae.Verdict = abi.Warn
			}
		default:
			rep.Accepted++
		}
	}
}

type abiPick struct {
	en    *abiEntry
	label string
}
