package workspace

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/internal/progress"
	"github.com/forge-ml/forge/linker"
	"github.com/forge-ml/forge/probe"
	"github.com/forge-ml/forge/store"
)

// Reuse kinds of an install report: how a package's store entry came to
// serve this install.
const (
	ReuseExact         = "exact"
	ReuseABICompatible = "abi_compatible"
	ReuseNone          = "none"
)

// InstallOptions are the inputs of Install.
type InstallOptions struct {
	Env      string
	Specs    []string // wheel files, or NAME==VERSION of store entries
	Global   bool     // into the GLOBAL layer instead of the environment's own
	LinkMode string   // "" = the environment's link_mode setting, else symlink
	Policy   string   // "" = the environment's abi_policy setting, else warn_abi
	GPU      string   // auto (default), cpu, cuXYZ: which flavour of NAME==VERSION
	// NotRequested marks the packages as dependencies (no REQUESTED file).
	NotRequested bool
}

// PackageReport is one package's line of an install report.
type PackageReport struct {
	Name      string        `json:"name"`
	Version   string        `json:"version"`
	Entry     string        `json:"entry"`
	Reused    bool          `json:"reused"`
	ReuseKind string        `json:"reuse_kind"`
	Layer     string        `json:"layer"`
	LinkMode  string        `json:"link_mode"`
	Verdict   abi.Outcome   `json:"verdict"`
	Findings  []abi.Finding `json:"findings"`
	Notes     []string      `json:"notes,omitempty"`
	// AlreadyLinked: the same entry was already linked in this layer.
	AlreadyLinked bool `json:"already_linked,omitempty"`
	// Linked: the package is in the layer, its links made and recorded (or
	// already there). It is set only once that has happened, so a report
	// of a failed or refused install says which packages did not get in.
	Linked bool `json:"linked"`
}

// InstallReport is what Install did.
type InstallReport struct {
	Env      string          `json:"env"`
	Host     string          `json:"host"`
	Policy   string          `json:"policy"`
	Packages []PackageReport `json:"packages"`
}

// Warned reports whether any package was admitted with a warn verdict.
func (r *InstallReport) Warned() bool { return slices.ContainsFunc(r.Packages, PackageReport.Warned) }

// Warned reports whether the package was admitted with a warn verdict.
func (p PackageReport) Warned() bool { return p.Verdict == abi.Warn }

type candidate struct {
	entry  *store.Entry
	report PackageReport
}

// Install ingests wheel files (or finds store entries), checks every one
// against the host under the ABI policy, and links them into the layer. A
// refused package stops the whole install before anything is linked; the
// error wraps abi.ErrIncompatible and the report says why.
//
// The operation is recorded in the environment's history (see History).
func (w *Workspace) Install(ctx context.Context, o InstallOptions) (*InstallReport, error) {
	op, err := w.BeginLayerOp(ctx, o.Env, o.Global, "install", installArgs(o))
	if err != nil {
		return nil, err
	}
	rep, err := w.InstallUnrecorded(ctx, o)
	op.Done(ctx, err)
	return rep, err
}

// installArgs is an install's command line after "forge install".
func installArgs(o InstallOptions) []string {
	args := append([]string(nil), o.Specs...)
	args = append(args, "--env", o.Env)
	if o.Global {
		args = append(args, "--global")
	}
	for _, f := range [][2]string{{"--link-mode", o.LinkMode}, {"--abi-policy", o.Policy}, {"--gpu", o.GPU}} {
		if f[1] != "" {
			args = append(args, f[0], f[1])
		}
	}
	if o.NotRequested {
		args = append(args, "--not-requested")
	}
	return args
}

// InstallUnrecorded is Install without a history row of its own: for a
// command that records one around it (pip install, sync).
func (w *Workspace) InstallUnrecorded(ctx context.Context, o InstallOptions) (*InstallReport, error) {
	specs, err := oneVersionEach(o.Specs)
	if err != nil {
		return nil, err
	}
	o.Specs = specs
	e, err := w.OpenUsableEnv(ctx, o.Env)
	if err != nil {
		return nil, err
	}
	policy, mode, err := w.InstallSettings(e, o)
	if err != nil {
		return nil, err
	}
	layer, venv := e.Name, e.Venv
	if o.Global {
		layer, venv = GlobalLayer(e.Py.XY()), w.GlobalVenv(e.Py)
	}
	// gc takes this lock exclusively: nothing we ingest or pick can be
	// collected before it is linked and counted.
	gcLock, err := w.Store.LockGC(ctx, false, w.Waiting("the store (gc running)"))
	if err != nil {
		return nil, err
	}
	defer gcLock.Unlock()
	hostc := w.probeHost(ctx, e) // while the wheels are read
	rep := &InstallReport{Env: e.Name, Policy: string(policy)}
	ingested, err := w.ingestSpecs(ctx, o.Specs)
	// Waited for even when the ingest failed: the probe writes its cache
	// into the home, and nothing may still write there once Install returns
	// (a test's home is removed then; seen as "directory not empty").
	hp := <-hostc
	if err != nil {
		return rep, err
	}
	if hp.err != nil {
		return rep, hp.err
	}
	host := hp.host
	rep.Host = HostName(host)
	cands, err := w.installCandidates(ctx, o, ingested, layer, mode, host, policy)
	if err != nil {
		return rep, err
	}
	if err := w.admit(ctx, e, cands, host, policy, rep); err != nil {
		return rep, err
	}
	reingested, err := w.reingestQuarantined(ctx, o.Specs, cands, ingested, rep)
	if err != nil {
		return rep, err
	}
	lk, err := w.LockLayer(ctx, e, layer)
	if err != nil {
		return rep, err
	}
	defer lk.Unlock()
	for _, en := range reingested {
		// Its links here go through its shared layout, which went with the
		// damaged copy; other layers that use it: doctor --fix relinks.
		if m, err := w.Store.ManifestFor(ctx, layer, en.NormName); err == nil && m.Entry == en.SHA256 && m.State == store.StateLinked {
			if err := w.Relink(ctx, *m); err != nil {
				return rep, err
			}
		}
	}
	return rep, w.linkInstall(ctx, o, e, layer, venv, mode, cands, rep)
}

// probed is the host an install checks against, or why it is unknown.
type probed struct {
	host *abi.Host
	err  error
}

// probeHost probes the environment's host (libc, libstdc++, NVML) in the
// background; the channel gives the one result.
func (w *Workspace) probeHost(ctx context.Context, e *Env) <-chan probed {
	hostc := make(chan probed, 1)
	go func() {
		st := progress.From(ctx).Phase("probe")
		h, err := w.HostFor(e)
		st.Done("")
		hostc <- probed{h, err}
	}()
	return hostc
}

// ingestSpecs ingests the wheel files among specs together: concurrently,
// with one flush. The result maps each file to what its ingest did.
func (w *Workspace) ingestSpecs(ctx context.Context, specs []string) (map[string]*store.IngestResult, error) {
	var wheels []string
	for _, spec := range specs {
		if strings.HasSuffix(spec, ".whl") {
			wheels = append(wheels, spec)
		}
	}
	ingested := map[string]*store.IngestResult{}
	if len(wheels) == 0 {
		return ingested, nil
	}
	st := progress.From(ctx).Phase("ingest")
	res, err := w.Store.IngestAll(ctx, wheels)
	if err != nil {
		st.Done("failed")
		return nil, err
	}
	for i, p := range wheels {
		ingested[p] = res[i]
	}
	st.Done(IngestSummary(res))
	return ingested, nil
}

// installCandidates gives each spec, in order, its store entry: the one
// just ingested from a wheel file, or the build of NAME==VERSION chosen
// for the host.
func (w *Workspace) installCandidates(ctx context.Context, o InstallOptions, ingested map[string]*store.IngestResult, layer string, mode linker.Mode, host *abi.Host, policy abi.Policy) ([]candidate, error) {
	st := progress.From(ctx).Phase("resolve")
	var cands []candidate
	for _, spec := range o.Specs {
		if res := ingested[spec]; res != nil {
			cands = append(cands, wheelCandidate(res, layer, mode))
			continue
		}
		c, err := w.resolveSpec(ctx, spec, host, policy, o.GPU)
		if err != nil {
			return nil, err
		}
		c.report.Layer, c.report.LinkMode = LayerLabel(layer), string(mode)
		cands = append(cands, c)
	}
	st.Done(CountOf(len(cands), "package"))
	return cands, nil
}

// admit checks every candidate against the host under the policy and puts
// each verdict in the report. One refusal refuses the install: the error
// wraps abi.ErrIncompatible and names every refused package.
func (w *Workspace) admit(ctx context.Context, e *Env, cands []candidate, host *abi.Host, policy abi.Policy, rep *InstallReport) error {
	st := progress.From(ctx).Phase("abi check")
	provided, err := w.ProvidedLibs(ctx, e, entriesOf(cands))
	if err != nil {
		return err
	}
	var refused []string
	for i := range cands {
		c := &cands[i]
		v := abi.Evaluate(&c.entry.Fingerprint, host, policy, provided)
		c.report.Verdict, c.report.Findings = v.Verdict, v.Findings
		if c.report.Findings == nil {
			c.report.Findings = []abi.Finding{}
		}
		if v.Refused() {
			refused = append(refused, fmt.Sprintf("%s %s (%s)", c.entry.Name, c.entry.Version, Codes(v.Findings)))
		}
	}
	for _, c := range cands {
		rep.Packages = append(rep.Packages, c.report)
	}
	st.Done(CountOf(len(cands), "package"))
	if len(refused) > 0 {
		return fmt.Errorf("%s refused on %s under %s; nothing was linked: %w", strings.Join(refused, ", "), HostName(host), policy, abi.ErrIncompatible)
	}
	return nil
}

// reingestQuarantined re-ingests, from the wheel file the install was
// given, every candidate whose store copy is quarantined: a quarantined
// entry is linked only once re-ingested. One named by NAME==VERSION
// cannot be, and stops the install.
func (w *Workspace) reingestQuarantined(ctx context.Context, specs []string, cands []candidate, ingested map[string]*store.IngestResult, rep *InstallReport) ([]*store.Entry, error) {
	var reingested []*store.Entry
	for i, spec := range specs {
		c := cands[i]
		reason, err := w.Store.Quarantined(ctx, c.entry.SHA256)
		if err != nil {
			return nil, err
		}
		if reason == "" {
			continue
		}
		if ingested[spec] == nil {
			return nil, fmt.Errorf("%s %s (%s) %w (%s): install its wheel file to re-ingest it", c.entry.Name, c.entry.Version, Short(c.entry.SHA256), store.ErrQuarantined, reason)
		}
		if err := w.Store.Reingest(ctx, c.entry.SHA256, spec); err != nil {
			return nil, err
		}
		rep.Packages[i].Reused, cands[i].report.Reused = false, false
		rep.Packages[i].Notes = append(rep.Packages[i].Notes, "re-ingested: the store copy had failed verification")
		reingested = append(reingested, c.entry)
	}
	return reingested, nil
}

// linkInstall links the admitted candidates into the layer (the caller
// holds its lock) and refreshes the layering when a .pth file came or went.
func (w *Workspace) linkInstall(ctx context.Context, o InstallOptions, e *Env, layer string, venv linker.Venv, mode linker.Mode, cands []candidate, rep *InstallReport) error {
	ents := make([]*store.Entry, len(cands))
	fresh := map[string]bool{} // unpacked by this install: their views are new
	for i, c := range cands {
		ents[i] = c.entry
		if !c.report.Reused {
			fresh[c.entry.SHA256] = true
		}
	}
	prog := progress.From(ctx)
	st := prog.Phase("link")
	outs, pth, err := w.LinkEntries(ctx, layer, venv, e, ents, mode, !o.NotRequested, fresh)
	st.Done(CountOf(len(ents), "package"))
	for i, out := range outs {
		rep.Packages[i].Notes = append(rep.Packages[i].Notes, out.Notes...)
		rep.Packages[i].AlreadyLinked = out.Already
		rep.Packages[i].Linked = out.Linked
	}
	if err != nil || !pth {
		return err
	}
	st = prog.Phase("layering refresh")
	err = w.RefreshLayering(ctx, e, o.Global)
	st.Done("")
	return err
}

// IngestSummary says what an ingest covered: "2 wheels, 1.3 GiB (1 new)".
func IngestSummary(res []*store.IngestResult) string {
	var size int64
	fresh := 0
	for _, r := range res {
		size += r.Entry.WheelSize
		if !r.Reused {
			fresh++
		}
	}
	return fmt.Sprintf("%s, %s (%d new)", CountOf(len(res), "wheel"), HumanBytes(size), fresh)
}

// CountOf is "1 package", "2 packages".
func CountOf(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// Codes are the distinct codes of the findings that are not Info, joined
// with ", ": what a refusal message lists.
func Codes(fs []abi.Finding) string { return strings.Join(abi.FindingCodes(fs), ", ") }

// LayerLabel is how an install report names the layer it linked into:
// "GLOBAL" or "LOCAL".
func LayerLabel(layer string) string {
	if store.LayerKey(layer).IsGlobal() {
		return "GLOBAL"
	}
	return "LOCAL"
}

// InstallSettings are the ABI policy and link mode an install into e uses:
// o's, else e's settings, else the defaults; a bad value is a usage error.
func (w *Workspace) InstallSettings(e *Env, o InstallOptions) (abi.Policy, linker.Mode, error) {
	ps := o.Policy
	if ps == "" {
		ps = e.Settings["abi_policy"]
	}
	policy := abi.DefaultPolicy
	if ps != "" {
		p, err := abi.ParsePolicy(ps)
		if err != nil {
			return "", "", fmt.Errorf("%v: %w", err, ErrUsage)
		}
		policy = p
	}
	ms := o.LinkMode
	if ms == "" {
		ms = e.Settings["link_mode"]
	}
	mode := linker.Symlink
	if ms != "" {
		m, err := linker.ParseMode(ms)
		if err != nil {
			return "", "", fmt.Errorf("%v: %w", err, ErrUsage)
		}
		mode = m
	}
	return policy, mode, nil
}

// HostFor is the host an environment's packages are checked against: the
// --host-profile when given, else this machine probed with the
// environment's interpreter.
func (w *Workspace) HostFor(e *Env) (*abi.Host, error) {
	if w.Host != nil {
		return w.Host, nil
	}
	return probe.Host(probe.WithPython(e.Python), probe.WithCacheDir(w.cacheDir()))
}

// wheelCandidate is the candidate of an ingested wheel file.
func wheelCandidate(res *store.IngestResult, layer string, mode linker.Mode) candidate {
	kind := ReuseNone
	if res.Reused {
		kind = ReuseExact
	}
	en := res.Entry
	c := candidate{entry: en, report: PackageReport{Name: en.Name, Version: en.Version, Entry: en.SHA256, Reused: res.Reused, ReuseKind: kind}}
	if layer != "" {
		c.report.Layer, c.report.LinkMode = LayerLabel(layer), string(mode)
	}
	return c
}

// resolveSpec turns a wheel path or NAME==VERSION into a store entry.
func (w *Workspace) resolveSpec(ctx context.Context, spec string, host *abi.Host, policy abi.Policy, gpu string) (candidate, error) {
	if strings.HasSuffix(spec, ".whl") {
		res, err := w.Store.Ingest(ctx, spec)
		if err != nil {
			return candidate{}, err
		}
		return wheelCandidate(res, "", ""), nil
	}
	name, version, ok := strings.Cut(spec, "==")
	if !ok || name == "" || version == "" {
		return candidate{}, fmt.Errorf("%q: give a wheel file (*.whl) or NAME==VERSION of a package in the store: %w", spec, ErrUsage)
	}
	name, version = strings.TrimSpace(name), strings.TrimSpace(version)
	entries, err := w.Store.Find(ctx, name, version)
	if err != nil {
		return candidate{}, err
	}
	if len(entries) == 0 {
		return candidate{}, fmt.Errorf("%s==%s is not in the store (install its wheel file, or use forge pip install): %w", name, version, store.ErrNotFound)
	}
	fps := make([]*abi.Fingerprint, len(entries))
	for i, en := range entries {
		fps[i] = &en.Fingerprint
	}
	if gpu == "" {
		gpu = "auto"
	}
	idx, reason, err := abi.ChooseFlavour(fps, host, policy, gpu)
	if err != nil && idx < 0 {
		return candidate{}, fmt.Errorf("%s==%s: %v: %w", name, version, err, abi.ErrIncompatible)
	}
	en := entries[idx]
	kind := ReuseExact
	var notes []string
	if len(entries) > 1 {
		kind = ReuseABICompatible
		notes = append(notes, reason)
	}
	return candidate{entry: en, report: PackageReport{Name: en.Name, Version: en.Version, Entry: en.SHA256, Reused: true, ReuseKind: kind, Notes: notes}}, nil
}

// ProvidedLibs are the libraries the packages of the environment's layers
// and of the batch being installed offer the loader (abi.Provided).
func (w *Workspace) ProvidedLibs(ctx context.Context, e *Env, batch []*store.Entry) (abi.CheckOptions, error) {
	var p abi.Provided
	for _, en := range batch {
		p.Add(&en.Fingerprint)
	}
	layers := []string{e.Name, GlobalLayer(e.Py.XY())}
	for _, pr := range e.Chain {
		layers = append(layers, pr.Name)
	}
	for _, l := range layers {
		ms, err := w.Store.Manifests(ctx, l)
		if err != nil {
			return abi.CheckOptions{}, err
		}
		for _, m := range ms {
			en, err := w.Store.Get(ctx, m.Entry)
			if err != nil {
				continue
			}
			p.Add(&en.Fingerprint)
		}
	}
	return p.Options(), nil
}

// entriesOf are the store entries of cands.
func entriesOf(cands []candidate) []*store.Entry {
	out := make([]*store.Entry, len(cands))
	for i, c := range cands {
		out[i] = c.entry
	}
	return out
}
