package doctor

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/linker"
	"github.com/forge-ml/forge/probe"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
)

// ABIOptions are the inputs of ABI.
type ABIOptions struct {
	// Envs limits the check to these environments (all when empty).
	Envs []string
	// NoCache re-checks even when an earlier report is still valid.
	NoCache bool
}

// ABIPackage is one package's verdict in one environment.
type ABIPackage struct {
	Name     string        `json:"name"`
	Version  string        `json:"version"`
	Entry    string        `json:"entry"`
	Layer    string        `json:"layer"` // LOCAL, the parent's name, or GLOBAL
	Verdict  abi.Outcome   `json:"verdict"`
	Findings []abi.Finding `json:"findings"`
}

// ABIEnv is the ABI check of one environment.
type ABIEnv struct {
	Env      string       `json:"env"`
	Python   string       `json:"python"`
	Host     string       `json:"host"`
	Policy   string       `json:"policy"`
	Verdict  abi.Outcome  `json:"verdict"` // the worst of its packages
	Packages []ABIPackage `json:"packages"`
	Error    string       `json:"error,omitempty"`
}

// ABIReport is what ABI found.
type ABIReport struct {
	Envs     []ABIEnv `json:"envs"`
	Checked  int      `json:"packages_checked"`
	Accepted int      `json:"accepted"`
	Warned   int      `json:"warned"`
	Refused  int      `json:"refused"`
	// Reused counts the environments whose report was taken from an
	// earlier check, nothing it depends on having changed since.
	Reused int `json:"reused"`
}

// ABI re-checks every package every environment sees (its own layer,
// its parents', GLOBAL: the winner of each name, as Python imports it)
// against the host — the --host-profile, else this machine probed with the
// environment's interpreter — under the environment's abi_policy. It uses
// the fingerprints stored at ingest and reads no wheel. A GLOBAL layer no
// environment uses is checked on its own under the default policy.
//
// The cost of checking grows with the number of (package, environment)
// pairs: the manifest rows and entries are read in one query each (see
// checkPlans), environments come from one listing, and each distinct
// fingerprint content is decoded, and each distinct (content, host, policy,
// provided libraries) checked, once (see abi.Evaluator). Packages of a
// report may share one Findings slice only when it is empty.
//
// An environment's report is reused from an earlier check when nothing it
// depends on has changed since: its record, interpreter, policy and host
// (probed now), the linked manifest rows of its layers and the entries
// they name (store.ABIState), and this forge binary; see abiCache. Only the
// other environments' layers are read. NoCache checks every one anyway.
func ABI(ctx context.Context, w *workspace.Workspace, o ABIOptions) (*ABIReport, error) {
	state, err := w.Store.ABIState(ctx)
	if err != nil {
		return nil, err
	}
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
	// The environments named are opened first (in name order), so that the
	// first that does not exist or cannot be opened is the error.
	opened := map[string]*workspace.Env{}
	for _, n := range slices.Sorted(maps.Keys(only)) {
		e, err := w.OpenEnv(ctx, n)
		if err != nil {
			return nil, err
		}
		opened[n] = e
	}
	// What each checked environment (and each GLOBAL layer no environment
	// uses) is checked with: all that a report depends on besides the
	// database.
	rows := make(map[string]*store.EnvRow, len(envs))
	for _, row := range envs {
		rows[row.Name] = row
	}
	var plans []abiPlan
	usedGlobals := map[string]bool{}
	for _, row := range envs {
		usedGlobals[workspace.GlobalLayer(workspace.PyXY(row.PythonVersion))] = true
		if len(only) > 0 && !only[row.Name] {
			continue
		}
		plans = append(plans, c.envPlan(ctx, row, opened[row.Name], rows))
	}
	if len(only) == 0 {
		globals, err := w.Store.LinkedGlobalLayers(ctx)
		if err != nil {
			return nil, err
		}
		for _, l := range globals {
			if !usedGlobals[l] {
				plans = append(plans, c.globalPlan(ctx, l))
			}
		}
	}
	cache := openABICache(w, state, plans, o.NoCache)
	results := make([]*ABIEnv, len(plans))
	var missing []int
	for i := range plans {
		if results[i] = cache.get(i); results[i] == nil {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		if err := c.checkPlans(ctx, plans, missing, results, len(only) == 0); err != nil {
			return nil, err
		}
		// Kept only when nothing changed while they were made: the queries
		// are not one snapshot, and the counters only ever grow.
		if now, err := w.Store.ABIState(ctx); err == nil && now.Equal(state) {
			names := map[string]bool{}
			for _, row := range envs {
				names[row.Name] = true
			}
			cache.save(missing, results, names)
		}
	}
	return abiReportOf(results, len(plans)-len(missing)), nil
}

// envPlan is how environment row is checked: with e when the caller opened
// it already, else opened here (rows are every environment's, for its
// parents).
func (c *abiDoctor) envPlan(ctx context.Context, row *store.EnvRow, e *workspace.Env, rows map[string]*store.EnvRow) abiPlan {
	p := abiPlan{env: ABIEnv{Env: row.Name, Python: row.PythonVersion, Packages: []ABIPackage{}}, row: row, policy: abi.DefaultPolicy}
	if e == nil {
		if e, p.err = c.openEnv(ctx, row, rows); p.err != nil {
			return p
		}
	}
	p.py = e.Py
	if ps := e.Settings["abi_policy"]; ps != "" {
		if pol, err := abi.ParsePolicy(ps); err == nil {
			p.policy = pol
		}
	}
	p.host, p.err = cachedHost(c.w, c.hosts, e)
	p.layers = []abiLayer{{e.Name, "LOCAL"}}
	for _, pr := range e.Chain {
		p.layers = append(p.layers, abiLayer{pr.Name, pr.Name})
	}
	p.layers = append(p.layers, abiLayer{workspace.GlobalLayer(e.Py.XY()), "GLOBAL"})
	return p
}

// globalPlan is how GLOBAL layer l, which no environment uses, is checked:
// on its own, under the default policy, with the interpreter of its Python.
func (c *abiDoctor) globalPlan(ctx context.Context, l string) abiPlan {
	xy, _ := store.LayerKey(l).XY()
	p := abiPlan{env: ABIEnv{Env: l, Python: xy, Packages: []ABIPackage{}}, policy: abi.DefaultPolicy,
		layers: []abiLayer{{l, "GLOBAL"}}}
	p.py, p.err = c.w.PythonXY(ctx, xy)
	if p.err == nil {
		p.host, p.err = cachedHost(c.w, c.hosts, &workspace.Env{EnvRow: store.EnvRow{Python: p.py.Executable}, Py: p.py})
	}
	return p
}

// abiReportOf is the report of the environments' results, counted.
func abiReportOf(results []*ABIEnv, reused int) *ABIReport {
	rep := &ABIReport{Envs: make([]ABIEnv, 0, len(results)), Reused: reused}
	for _, ae := range results {
		rep.Envs = append(rep.Envs, *ae)
		for _, p := range ae.Packages {
			rep.Checked++
			switch p.Verdict {
			case abi.Refuse:
				rep.Refused++
			case abi.Warn:
				rep.Warned++
			default:
				rep.Accepted++
			}
		}
	}
	return rep
}

// checkPlans checks the plans numbered missing into results. When they are
// most of a full check, every linked manifest row and referenced entry is
// read in one query each; else only the rows of their layers and the
// entries those name, so that one environment costs the same in a store of
// fifty entries or of five thousand.
func (c *abiDoctor) checkPlans(ctx context.Context, plans []abiPlan, missing []int, results []*ABIEnv, full bool) error {
	var ms []store.Manifest
	var ents []store.ABIEntry
	var err error
	all := full && 2*len(missing) > len(plans)
	if all {
		// (Reading both tables in parallel, on two connections, saved 1 ms
		// of 39 over 5,000 entries and cost 1 ms of 8.5 over 50.)
		if ents, err = c.w.Store.ABIEntries(ctx, nil); err != nil {
			return err
		}
		if ms, err = c.w.Store.LinkedManifests(ctx); err != nil {
			return err
		}
	} else {
		var layers []string
		seen := map[string]bool{}
		for _, i := range missing {
			for _, l := range plans[i].layers {
				if !seen[l.key] {
					seen[l.key] = true
					layers = append(layers, l.key)
				}
			}
		}
		if len(layers) > 0 {
			if ms, err = c.w.Store.LinkedManifests(ctx, layers...); err != nil {
				return err
			}
		}
	}
	if err := c.load(ctx, ms, ents, all); err != nil {
		return err
	}
	var totals ABIReport // checkLayers counts; ABI counts again over all
	for _, i := range missing {
		p := &plans[i]
		ae := p.env
		if p.err != nil {
			ae.Error, ae.Verdict = p.err.Error(), abi.Refuse
		} else {
			c.checkLayers(&totals, &ae, p.layers, p.host, p.policy)
		}
		results[i] = &ae
	}
	return nil
}

// abiPlan is how one environment, or one GLOBAL layer no environment uses,
// is checked.
type abiPlan struct {
	env    ABIEnv        // its report, before the check
	row    *store.EnvRow // nil for a GLOBAL layer
	py     *probe.Interp // nil when err
	host   *abi.Host     // nil when err
	policy abi.Policy
	layers []abiLayer // nearest first
	err    error      // the environment cannot be checked
}

// abiDoctor is the state of one ABI call.
type abiDoctor struct {
	w       *workspace.Workspace
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
func (c *abiDoctor) openEnv(ctx context.Context, row *store.EnvRow, rows map[string]*store.EnvRow) (*workspace.Env, error) {
	r, ok := c.interps[row.Python]
	if !ok {
		r.py, r.err = c.w.Interp(row.Python)
		c.interps[row.Python] = r
	}
	if r.err != nil {
		return nil, fmt.Errorf("environment %s: %w", row.Name, r.err)
	}
	e := &workspace.Env{EnvRow: *row, Py: r.py, Venv: linker.Venv{Root: row.Path, Python: r.py}}
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

func cachedHost(w *workspace.Workspace, cache map[string]*abi.Host, e *workspace.Env) (*abi.Host, error) {
	if h, ok := cache[e.Python]; ok {
		return h, nil
	}
	h, err := w.HostFor(e)
	if err != nil {
		return nil, err
	}
	cache[e.Python] = h
	return h, nil
}

// checkLayers evaluates the winner of every name across layers (nearest
// first); the libraries every layer ships count as provided.
func (c *abiDoctor) checkLayers(rep *ABIReport, ae *ABIEnv, layers []abiLayer, host *abi.Host, policy abi.Policy) {
	ae.Host, ae.Policy, ae.Verdict = workspace.HostName(host), string(policy), abi.Accept
	seen := map[string]bool{}
	var libs abi.Provided
	var picks []abiPick
	for _, l := range layers {
		for _, m := range c.byLayer[l.key] {
			en, ok := c.entries[m.Entry]
			if !ok {
				continue // doctor reports it
			}
			libs.Add(en.fp)
			if seen[m.NormName] {
				continue
			}
			seen[m.NormName] = true
			picks = append(picks, abiPick{en, l.label})
		}
	}
	provided := libs.Options()
	sort.SliceStable(picks, func(i, j int) bool { return picks[i].en.row.NormName < picks[j].en.row.NormName })
	ae.Packages = slices.Grow(ae.Packages, len(picks))
	for _, p := range picks {
		v := c.ev.Evaluate(p.en.key, p.en.fp, host, policy, provided)
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
