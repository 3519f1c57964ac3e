package workspace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

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
	Verdict   string        `json:"verdict"`
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
func (r *InstallReport) Warned() bool {
	for _, p := range r.Packages {
		if p.Verdict == abi.Warn {
			return true
		}
	}
	return false
}

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
	op, err := w.beginLayerOp(ctx, o.Env, o.Global, "install", installArgs(o))
	if err != nil {
		return nil, err
	}
	rep, err := w.install(ctx, o)
	op.done(ctx, err)
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

func (w *Workspace) install(ctx context.Context, o InstallOptions) (*InstallReport, error) {
	specs, err := oneVersionEach(o.Specs)
	if err != nil {
		return nil, err
	}
	o.Specs = specs
	e, err := w.openUsableEnv(ctx, o.Env)
	if err != nil {
		return nil, err
	}
	policy, mode, err := w.installSettings(e, o)
	if err != nil {
		return nil, err
	}
	layer, venv := e.Name, e.Venv
	if o.Global {
		layer, venv = GlobalLayer(e.Py.XY()), w.globalVenv(e.Py)
	}
	// gc takes this lock exclusively: nothing we ingest or pick can be
	// collected before it is linked and counted.
	gcLock, err := w.Store.LockGC(ctx, false, w.waiting("the store (gc running)"))
	if err != nil {
		return nil, err
	}
	defer gcLock.Unlock()
	// The host is probed (libc, libstdc++, NVML) while the wheels are read.
	type probed struct {
		host *abi.Host
		err  error
	}
	hostc := make(chan probed, 1)
	prog := progress.From(ctx)
	go func() {
		st := prog.Phase("probe")
		h, err := w.hostFor(e)
		st.Done("")
		hostc <- probed{h, err}
	}()
	rep := &InstallReport{Env: e.Name, Policy: string(policy)}

	// Wheel files are ingested together: concurrently, with one flush.
	var wheels []string
	for _, spec := range o.Specs {
		if strings.HasSuffix(spec, ".whl") {
			wheels = append(wheels, spec)
		}
	}
	ingested := map[string]*store.IngestResult{}
	if len(wheels) > 0 {
		st := prog.Phase("ingest")
		res, err := w.Store.IngestAll(ctx, wheels)
		if err != nil {
			st.Done("failed")
			return rep, err
		}
		for i, p := range wheels {
			ingested[p] = res[i]
		}
		st.Done(ingestSummary(res))
	}
	hp := <-hostc
	if hp.err != nil {
		return rep, hp.err
	}
	host := hp.host
	rep.Host = hostName(host)
	var cands []candidate
	st := prog.Phase("resolve")
	for _, spec := range o.Specs {
		if res := ingested[spec]; res != nil {
			cands = append(cands, wheelCandidate(res, layer, mode))
			continue
		}
		c, err := w.resolveSpec(ctx, spec, host, policy, o.GPU)
		if err != nil {
			return rep, err
		}
		c.report.Layer, c.report.LinkMode = layerLabel(layer), string(mode)
		cands = append(cands, c)
	}
	st.Done(countOf(len(cands), "package"))
	st = prog.Phase("abi check")
	provided, err := w.providedLibs(ctx, e, cands)
	if err != nil {
		return rep, err
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
			refused = append(refused, fmt.Sprintf("%s %s (%s)", c.entry.Name, c.entry.Version, codes(v.Findings)))
		}
	}
	for _, c := range cands {
		rep.Packages = append(rep.Packages, c.report)
	}
	st.Done(countOf(len(cands), "package"))
	if len(refused) > 0 {
		return rep, fmt.Errorf("%s refused on %s under %s; nothing was linked: %w", strings.Join(refused, ", "), hostName(host), policy, abi.ErrIncompatible)
	}

	// A quarantined entry is linked only once re-ingested from its wheel.
	var reingested []*store.Entry
	for i, spec := range o.Specs {
		c := cands[i]
		reason, err := w.Store.Quarantined(ctx, c.entry.SHA256)
		if err != nil || reason == "" {
			if err != nil {
				return rep, err
			}
			continue
		}
		if ingested[spec] == nil {
			return rep, fmt.Errorf("%s %s (%s) %w (%s): install its wheel file to re-ingest it", c.entry.Name, c.entry.Version, short(c.entry.SHA256), store.ErrQuarantined, reason)
		}
		if err := w.Store.Reingest(ctx, c.entry.SHA256, spec); err != nil {
			return rep, err
		}
		rep.Packages[i].Reused, cands[i].report.Reused = false, false
		rep.Packages[i].Notes = append(rep.Packages[i].Notes, "re-ingested: the store copy had failed verification")
		reingested = append(reingested, c.entry)
	}
	lk, err := w.lockLayer(ctx, e, layer)
	if err != nil {
		return rep, err
	}
	defer lk.Unlock()
	for _, en := range reingested {
		// Its links here go through its shared layout, which went with the
		// damaged copy; other layers that use it: doctor --fix relinks.
		if m, err := w.Store.ManifestFor(ctx, layer, en.NormName); err == nil && m.Entry == en.SHA256 && m.State == store.StateLinked {
			if err := w.relink(ctx, *m); err != nil {
				return rep, err
			}
		}
	}
	ents := make([]*store.Entry, len(cands))
	for i, c := range cands {
		ents[i] = c.entry
	}
	fresh := map[string]bool{} // unpacked by this install: their views are new
	for _, c := range cands {
		if !c.report.Reused {
			fresh[c.entry.SHA256] = true
		}
	}
	st = prog.Phase("link")
	outs, pth, err := w.linkEntries(ctx, layer, venv, e, ents, mode, !o.NotRequested, fresh)
	st.Done(countOf(len(ents), "package"))
	for i, out := range outs {
		rep.Packages[i].Notes = append(rep.Packages[i].Notes, out.notes...)
		rep.Packages[i].AlreadyLinked = out.already
		rep.Packages[i].Linked = out.linked
	}
	if err != nil {
		return rep, err
	}
	if pth {
		st := prog.Phase("layering refresh")
		err := w.refreshLayering(ctx, e, o.Global)
		st.Done("")
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// ingestSummary says what an ingest covered: "2 wheels, 1.3 GiB (1 new)".
func ingestSummary(res []*store.IngestResult) string {
	var size int64
	fresh := 0
	for _, r := range res {
		size += r.Entry.WheelSize
		if !r.Reused {
			fresh++
		}
	}
	return fmt.Sprintf("%s, %s (%d new)", countOf(len(res), "wheel"), HumanBytes(size), fresh)
}

// countOf is "1 package", "2 packages".
func countOf(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func codes(fs []abi.Finding) string {
	var out []string
	seen := map[string]bool{}
	for _, f := range fs {
		if f.Severity == abi.Info || seen[f.Code] {
			continue
		}
		seen[f.Code] = true
		out = append(out, f.Code)
	}
	return strings.Join(out, ", ")
}

func layerLabel(layer string) string {
	if store.LayerKey(layer).IsGlobal() {
		return "GLOBAL"
	}
	return "LOCAL"
}

func hostName(h *abi.Host) string {
	if h.Name != "" {
		return h.Name
	}
	return "this host"
}

func (w *Workspace) installSettings(e *Env, o InstallOptions) (abi.Policy, linker.Mode, error) {
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

// hostFor is the host an environment's packages are checked against: the
// --host-profile when given, else this machine probed with the
// environment's interpreter.
func (w *Workspace) hostFor(e *Env) (*abi.Host, error) {
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
		c.report.Layer, c.report.LinkMode = layerLabel(layer), string(mode)
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

// providedLibs are the libraries the packages of the environment's layers
// and of the batch being installed offer the loader (abi.Provided).
func (w *Workspace) providedLibs(ctx context.Context, e *Env, batch []candidate) (abi.CheckOptions, error) {
	var p abi.Provided
	for _, c := range batch {
		p.Add(&c.entry.Fingerprint)
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

// linkEntry links one entry into a layer (see linkEntries).
func (w *Workspace) linkEntry(ctx context.Context, layer string, venv linker.Venv, e *Env, en *store.Entry, mode linker.Mode, requested bool) (notes []string, already bool, err error) {
	outs, _, err := w.linkEntries(ctx, layer, venv, e, []*store.Entry{en}, mode, requested, nil)
	if len(outs) == 1 {
		notes, already = outs[0].notes, outs[0].already
	}
	return notes, already, err
}

// linkOutcome is what linking did for one entry.
type linkOutcome struct {
	notes   []string
	already bool
	linked  bool // in the layer and recorded, by this call or before it
}

// linkEntries links entries into a layer, replacing other builds of the
// same projects. Manifest rows go in first, all in one transaction, as
// "linking"; they are marked "linked" (again in one transaction) only when
// every link of theirs exists. On an error, the entries linked so far stay
// linked and recorded, and the rest leave no row. pth reports whether a
// top-level .pth file appeared, so children's layering must be refreshed.
// The store views of fresh entries (by digest) are built first, in
// parallel, while the rows go in; linking itself is sequential.
func (w *Workspace) linkEntries(ctx context.Context, layer string, venv linker.Venv, e *Env, ents []*store.Entry, mode linker.Mode, requested bool, fresh map[string]bool) (outs []linkOutcome, pth bool, err error) {
	outs = make([]linkOutcome, len(ents))
	current, err := w.Store.Manifests(ctx, layer)
	if err != nil {
		return outs, false, err
	}
	byName := map[string]store.Manifest{}
	for _, m := range current {
		byName[m.NormName] = m
	}
	type job struct {
		i  int
		en *store.Entry
	}
	var jobs []job
	var begin []store.Manifest
	for i, en := range ents {
		if old, ok := byName[en.NormName]; ok {
			if old.Entry == en.SHA256 && old.State == store.StateLinked && w.linksPresent(ctx, layer, venv, old.Entry) {
				outs[i].already, outs[i].linked = true, true
				continue
			}
			if err := w.unlinkManifest(ctx, layer, venv, old); err != nil {
				return outs, false, fmt.Errorf("%s %s: %w", en.Name, en.Version, err)
			}
			if old.Entry != en.SHA256 {
				outs[i].notes = append(outs[i].notes, w.replacedNote(ctx, old.Entry))
			}
		}
		byName[en.NormName] = store.Manifest{Entry: en.SHA256, State: store.StateLinked} // a repeated spec is already linked
		jobs = append(jobs, job{i, en})
		begin = append(begin, store.Manifest{Layer: layer, NormName: en.NormName, Entry: en.SHA256, LinkMode: string(mode), Requested: requested})
	}
	if len(jobs) == 0 {
		return outs, false, nil
	}
	plan := func(en *store.Entry) linker.Plan { return w.linkPlan(ctx, layer, venv, e, en, ents, mode, requested) }
	began := make(chan error, 1)
	go func() { began <- w.Store.BeginLinks(ctx, begin) }()
	var views errgroup.Group
	views.SetLimit(runtime.NumCPU())
	for _, j := range jobs {
		if fresh[j.en.SHA256] {
			// An error is Link's to report, in order.
			views.Go(func() error { linker.PrepareView(plan(j.en)); return nil })
		}
	}
	views.Wait()
	if err := <-began; err != nil {
		return outs, false, err
	}
	var done []store.Linked
	var linkErr error
	t := progress.From(ctx).Task("linking", layer, int64(len(jobs)), progress.Items)
	defer t.Done()
	next := 0
	for ; next < len(jobs); next++ {
		j := jobs[next]
		res, err := linker.Link(plan(j.en))
		t.Add(1)
		if errors.Is(err, linker.ErrNoDistInfo) {
			err = fmt.Errorf("entry %s: %w: %w", j.en.SHA256, err, store.ErrCorrupt)
		}
		if err != nil {
			linkErr = fmt.Errorf("%s %s: %w", j.en.Name, j.en.Version, err)
			break
		}
		d := store.Linked{Entry: j.en.SHA256}
		for _, o := range res.Owned {
			d.Links = append(d.Links, store.Link{Path: o.Path, Kind: string(o.Kind)})
			pth = pth || (strings.HasSuffix(o.Path, ".pth") && !strings.Contains(strings.TrimPrefix(o.Path, w.siteRel(venv)+"/"), "/"))
		}
		for _, s := range res.Split {
			d.Splits = append(d.Splits, store.Split{Path: s.Path, Children: s.Children})
		}
		done = append(done, d)
		outs[j.i].notes = append(outs[j.i].notes, res.Notes...)
	}
	// Rows of entries never linked (the failed one, and those after it) go.
	for _, j := range jobs[next:] {
		if rerr := w.Store.RemoveManifest(ctx, layer, j.en.NormName); rerr != nil && !errors.Is(rerr, store.ErrNotFound) {
			linkErr = errors.Join(linkErr, rerr)
		}
	}
	if len(done) > 0 {
		changed, err := w.Store.FinishLinks(ctx, layer, done)
		if err != nil {
			return outs, pth, errors.Join(linkErr, err)
		}
		for _, j := range jobs[:next] {
			outs[j.i].linked = true
		}
		for _, c := range changed {
			if err := w.rewriteRecord(ctx, layer, venv, c); err != nil {
				return outs, pth, errors.Join(linkErr, err)
			}
		}
	}
	return outs, pth, linkErr
}

// linkPlan is how install links one entry into a layer.
func (w *Workspace) linkPlan(ctx context.Context, layer string, venv linker.Venv, e *Env, en *store.Entry, batch []*store.Entry, mode linker.Mode, requested bool) linker.Plan {
	return linker.Plan{
		Layer: venv, Launcher: launcherFor(layer, venv, e), EntryDir: w.Store.EntryDir(en.SHA256), StoreRoot: w.Store.EntriesDir(),
		Project: en.Name, Mode: mode, Requested: requested, Owner: en.Name + " " + en.Version,
		RealDirs:    RealDirs(&en.Fingerprint, entryShips(w.Store.EntryDir(en.SHA256))),
		Bridges:     w.bridges(layer, venv, e, en, batch),
		OwnedByName: func(rel string) string { return w.ownerName(ctx, layer, rel) },
		Views:       w.Store.Views(ctx, en.SHA256),
	}
}

// siteRel is site-packages relative to the layer root ("lib/python3.12/site-packages").
func (w *Workspace) siteRel(venv linker.Venv) string {
	rel, err := filepath.Rel(venv.Root, venv.SitePackages())
	if err != nil {
		return ""
	}
	return filepath.ToSlash(rel)
}

// launcherFor is the interpreter named by bin/ launchers of a layer: the
// environment's own python, or for GLOBAL the python on PATH of whichever
// environment runs it.
func launcherFor(layer string, venv linker.Venv, e *Env) string {
	if store.LayerKey(layer).IsGlobal() {
		return "/usr/bin/env python" + e.Py.XY()
	}
	return venv.Interpreter()
}

func (w *Workspace) ownerName(ctx context.Context, layer, rel string) string {
	owners, err := w.Store.PathOwners(ctx, layer, rel)
	if err != nil || len(owners) == 0 {
		return ""
	}
	en, err := w.Store.Get(ctx, owners[0])
	if err != nil {
		return owners[0]
	}
	return en.Name + " " + en.Version
}

func (w *Workspace) rewriteRecord(ctx context.Context, layer string, venv linker.Venv, entry string) error {
	links, err := w.Store.Links(ctx, layer, entry)
	if err != nil {
		return err
	}
	var owned []linker.Owned
	distInfo := ""
	for _, l := range links {
		owned = append(owned, linker.Owned{Path: l.Path, Kind: linker.LinkKind(l.Kind)})
		if linker.LinkKind(l.Kind) == linker.KindDir && strings.HasSuffix(l.Path, ".dist-info") {
			distInfo = filepath.Base(l.Path)
		}
	}
	if distInfo == "" {
		return nil
	}
	return linker.WriteRecord(venv, distInfo, owned)
}

func findDistInfo(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		if e.IsDir() && strings.HasSuffix(e.Name(), ".dist-info") {
			return e.Name(), nil
		}
	}
	return "", fmt.Errorf("no .dist-info directory")
}

// unlinkManifest removes a package from a layer: its exclusive paths, then
// its row (refcount follows in the same transaction).
func (w *Workspace) unlinkManifest(ctx context.Context, layer string, venv linker.Venv, m store.Manifest) error {
	if err := w.Store.SetManifestState(ctx, layer, m.NormName, store.StateUnlinking); err != nil {
		return err
	}
	links, err := w.Store.ExclusiveLinks(ctx, layer, m.Entry)
	if err != nil {
		return err
	}
	owned := make([]linker.Owned, len(links))
	for i, l := range links {
		owned[i] = linker.Owned{Path: l.Path, Kind: linker.LinkKind(l.Kind)}
	}
	if err := linker.Unlink(venv, owned); err != nil {
		return err
	}
	w.dropBytecode(ctx, layer, venv, owned)
	return w.Store.RemoveManifest(ctx, layer, m.NormName)
}

// refreshLayering rewrites the layer .pth files of every environment that
// sees the changed layer, so parents' own .pth files take effect in them.
func (w *Workspace) refreshLayering(ctx context.Context, changed *Env, global bool) error {
	envs, err := w.Store.ListEnvs(ctx)
	if err != nil {
		return err
	}
	for _, row := range envs {
		if row.Name == changed.Name {
			continue
		}
		child, err := w.OpenEnv(ctx, row.Name)
		if err != nil {
			continue // reported by doctor
		}
		sees := global && child.Py.XY() == changed.Py.XY()
		for _, p := range child.Chain {
			sees = sees || p.Name == changed.Name
		}
		if sees {
			if err := linker.WriteLayers(child.Venv, w.layerSites(child)); err != nil {
				if errors.Is(err, os.ErrNotExist) {
					continue // removed meanwhile (forge env rm holds its own lock, not ours)
				}
				return err
			}
		}
	}
	return nil
}

// linksPresent reports whether every path the entry owns in the layer still
// exists (pip uninstall, or a user, may have removed them behind forge).
func (w *Workspace) linksPresent(ctx context.Context, layer string, venv linker.Venv, entry string) bool {
	links, err := w.Store.Links(ctx, layer, entry)
	if err != nil || len(links) == 0 {
		return false
	}
	for _, l := range links {
		if _, err := os.Lstat(filepath.Join(venv.Root, filepath.FromSlash(l.Path))); err != nil {
			return false
		}
	}
	return true
}

// bridges lists the links a layer needs so that en's RUNPATH reaches the
// library directories that only a layer below provides (linker.Bridge):
// torch in a child environment, nvidia-cublas in its parent. Directories
// that en, another entry of the batch, or the layer itself provides need
// none.
func (w *Workspace) bridges(layer string, venv linker.Venv, e *Env, en *store.Entry, batch []*store.Entry) []linker.Bridge {
	if e == nil || layer != e.Name {
		return nil
	}
	var below []string // site-packages of the layers below, nearest first
	for _, p := range e.Chain {
		below = append(below, linker.Venv{Root: p.Path, Python: e.Py}.SitePackages())
	}
	below = append(below, w.globalVenv(e.Py).SitePackages())
	seen := map[string]bool{}
	var out []linker.Bridge
	for _, el := range en.Fingerprint.ELFs {
		for _, d := range abi.SearchDirs(el) {
			if seen[d] {
				continue
			}
			seen[d] = true
			if _, err := os.Lstat(filepath.Join(venv.SitePackages(), filepath.FromSlash(d))); err == nil {
				continue
			}
			if slices.ContainsFunc(batch, func(b *store.Entry) bool { return entryShips(w.Store.EntryDir(b.SHA256))(d) }) {
				continue
			}
			for _, site := range below {
				target := filepath.Join(site, filepath.FromSlash(d))
				if fi, err := os.Stat(target); err == nil && fi.IsDir() {
					out = append(out, linker.Bridge{Path: d, Target: target})
					break
				}
			}
		}
	}
	return out
}

// entryShips reports whether the store entry at dir has a directory at an
// entry-relative path.
func entryShips(dir string) func(string) bool {
	return func(rel string) bool {
		fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(rel)))
		return err == nil && fi.IsDir()
	}
}

// RealDirs lists the directories of an entry that must be real in a layer
// (see linker.Plan.RealDirs): every directory above an ELF whose RUNPATH or
// RPATH climbs through $ORIGIN/.. to a directory the entry itself does not
// ship. Sharing a top-level directory is not enough: nvidia-cusparse's
// $ORIGIN/../../nvjitlink/lib stays under nvidia/ but reaches another
// wheel, and through a link to nvidia/cusparse the kernel would resolve
// those ".." inside cusparse's store entry. ships reports whether the
// entry has a directory at an entry-relative path.
func RealDirs(fp *abi.Fingerprint, ships func(dir string) bool) map[string]bool {
	var out map[string]bool
	for _, el := range fp.ELFs {
		dir := path.Dir(el.Path)
		for _, rp := range append(append([]string(nil), el.Runpath...), el.Rpath...) {
			for _, item := range strings.Split(rp, ":") {
				rel, ok := strings.CutPrefix(item, "$ORIGIN")
				if !ok {
					rel, ok = strings.CutPrefix(item, "${ORIGIN}")
				}
				if !ok || !strings.Contains(rel, "..") {
					continue
				}
				if target := path.Clean(dir + "/" + rel); !strings.HasPrefix(target, "../") && ships(target) {
					continue // stays inside what this entry ships
				}
				if out == nil {
					out = map[string]bool{}
				}
				for d := dir; d != "." && d != "/"; d = path.Dir(d) {
					out[d] = true
				}
			}
		}
	}
	return out
}
