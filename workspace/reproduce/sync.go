package reproduce

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/internal/errkind"
	"github.com/forge-ml/forge/linker"
	"github.com/forge-ml/forge/lockfile"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/wheel"
	"github.com/forge-ml/forge/workspace"
)

// SyncOptions are the inputs of Sync.
type SyncOptions struct {
	Env string
	// Lock is the pylock.toml file; relative wheel paths in it are read
	// from its directory.
	Lock   string
	DryRun bool
	// Policy: "" is the environment's abi_policy, else the default.
	Policy abi.Policy
	// FindLinks is a directory of wheel files, looked up by the locked
	// file name before pip is asked; with it, pip fetches with --no-index.
	FindLinks string
	// PipOutput, when set, receives the output of pip download.
	PipOutput io.Writer
}

// Actions of a sync plan.
const (
	SyncAdd    = "add"    // linked into LOCAL (replacing LOCAL's other build of the name, if any)
	SyncRemove = "remove" // unlinked from LOCAL
	SyncKeep   = "keep"   // already what the lock asks for, in LOCAL or in a layer below
)

// SyncPackage is one line of a sync plan.
type SyncPackage struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Action  string `json:"action"`
	Entry   string `json:"entry"` // the wheel's sha256 (the store entry's key)
	// Layer holds the package: LOCAL, or for a kept package that a parent
	// or GLOBAL provides, that layer.
	Layer string `json:"layer"`
	// Replaces is the version of LOCAL's other build that an add replaces.
	Replaces string `json:"replaces,omitempty"`
	// Fetch says where a wheel not in the store comes from: a file, or
	// "pip download" of a URL or from --find-links.
	Fetch    string        `json:"fetch,omitempty"`
	Verdict  abi.Outcome   `json:"verdict,omitempty"`
	Findings []abi.Finding `json:"findings,omitempty"`
}

// SyncReport is a sync's plan and, unless DryRun, what was done.
type SyncReport struct {
	Env      string        `json:"env"`
	Lock     string        `json:"lock"`
	Host     string        `json:"host"`
	Policy   string        `json:"policy"`
	DryRun   bool          `json:"dry_run"`
	Packages []SyncPackage `json:"packages"` // sorted by name; removals included
	Added    int           `json:"added"`
	Removed  int           `json:"removed"`
	Kept     int           `json:"kept"`
	Fetched  int           `json:"fetched"` // wheels not in the store (to fetch, with DryRun)
	// Changed: the environment's LOCAL layer changed (false with DryRun).
	Changed bool `json:"changed"`
	// AutoSnapshot names the snapshot taken before the change ("" when
	// nothing changed or auto_snapshots is 0): forge rollback ENV NAME
	// undoes the sync.
	AutoSnapshot string `json:"auto_snapshot,omitempty"`
}

// syncWant is a package the lock installs for the environment.
type syncWant struct {
	sel   lockfile.Selected
	sha   string
	entry *store.Entry // nil until fetched
	src   wheelSource  // where to fetch it from, when entry is nil
	fresh bool         // fetched by this sync
}

func (s *syncWant) norm() string { return wheel.NormalizeName(s.sel.Package.Name) }

// Sync makes an environment's own (LOCAL) layer exactly what a PEP 751
// lock file installs for its interpreter: packages whose marker holds,
// each with its best wheel for the interpreter's tags. Parents and GLOBAL
// are never changed; a locked wheel that a layer below already provides
// is kept there, not linked again.
//
// It works in phases, and nothing in the environment changes before the
// last: read and select (lockfile errors: a file that is not a lock, or
// names a package twice, is ErrUsage; a package without a wheel for this
// interpreter is abi.ErrIncompatible); fetch every wheel not in the store
// (see fetchLocked: a file whose sha256 or size is not the lock's is
// store.ErrCorrupt, a URL scheme pip cannot fetch ErrUsage); check every
// wheel against the host under the policy (a refusal is
// abi.ErrIncompatible); then, holding the layer's lock, unlink what goes
// and link what comes. If linking fails, what this sync linked is
// unlinked and what it unlinked is linked again (undoSync).
//
// Crash window: wheels fetched before a failure stay in the store
// (unreferenced: gc collects them). A crash during the last phase leaves
// LOCAL part old, part new, with manifest rows in state unlinking or
// linking that forge doctor --fix finishes; running the same sync again
// completes it. pip, which forge links into every environment, is kept
// unless the lock pins pip itself.
func Sync(ctx context.Context, w *workspace.Workspace, o SyncOptions) (*SyncReport, error) {
	if o.DryRun {
		return sync(ctx, w, o)
	}
	args := []string{o.Lock, "--env", o.Env}
	if o.Policy != "" {
		args = append(args, "--abi-policy", string(o.Policy))
	}
	if o.FindLinks != "" {
		args = append(args, "--find-links", o.FindLinks)
	}
	op, err := w.BeginLayerOp(ctx, o.Env, false, "sync", args)
	if err != nil {
		return nil, err
	}
	rep, err := sync(ctx, w, o)
	op.Done(ctx, err)
	return rep, err
}

// sync is Sync without its history row.
func sync(ctx context.Context, w *workspace.Workspace, o SyncOptions) (*SyncReport, error) {
	l, err := workspace.ReadLock(o.Lock)
	if err != nil {
		return nil, syncLockKind(err)
	}
	e, err := w.OpenUsableEnv(ctx, o.Env)
	if err != nil {
		return nil, err
	}
	policy, mode, err := w.InstallSettings(e, workspace.InstallOptions{Policy: string(o.Policy)})
	if err != nil {
		return nil, err
	}
	sel, err := l.Select(o.Lock, LockTarget(e.Py))
	if err != nil {
		return nil, syncLockKind(err)
	}
	rep := &SyncReport{Env: e.Name, Lock: o.Lock, Policy: string(policy), DryRun: o.DryRun, Packages: []SyncPackage{}}
	// As install: gc cannot collect what this sync ingests or finds
	// before it is linked.
	gcLock, err := w.Store.LockGC(ctx, false, w.Waiting("the store (gc running)"))
	if err != nil {
		return nil, err
	}
	defer gcLock.Unlock()
	host, err := w.HostFor(e)
	if err != nil {
		return nil, err
	}
	rep.Host = workspace.HostName(host)

	wants, err := syncWants(ctx, w, o, sel)
	if err != nil {
		return nil, err
	}
	if !o.DryRun {
		if err := fetchLocked(ctx, w, e, o, wants); err != nil {
			return nil, err
		}
	}
	refused, verdicts, err := syncCheck(ctx, w, e, wants, host, policy)
	if err != nil {
		return nil, err
	}
	if o.DryRun || len(refused) > 0 {
		// The plan as it stands, with every verdict: a refused sync
		// reports which packages and why.
		p, err := planSync(ctx, w, e, l, wants, verdicts)
		if err != nil {
			return nil, err
		}
		rep.setPlan(p)
		if len(refused) > 0 {
			return rep, syncRefused(refused, host, policy)
		}
		return rep, nil
	}
	if err := syncUnquarantine(ctx, w, wants); err != nil {
		return nil, err
	}

	lk, err := w.LockLayer(ctx, e, e.Name)
	if err != nil {
		return nil, err
	}
	defer lk.Unlock()
	// The plan is made under the layer's lock: what LOCAL holds cannot
	// change between it and the links.
	p, err := planSync(ctx, w, e, l, wants, verdicts)
	if err != nil {
		return nil, err
	}
	rep.setPlan(p)
	if len(p.unlink) == 0 && len(p.link) == 0 {
		return rep, nil
	}
	// A restore point of the layer as it was (setting auto_snapshots).
	if rep.AutoSnapshot, err = autoSnapshot(ctx, w, e, "sync"); err != nil {
		return rep, err
	}
	if err := applySync(ctx, w, e, mode, p); err != nil {
		return rep, err
	}
	rep.Changed = true
	return rep, nil
}

// syncLockKind gives lockfile's errors forge's kinds: a file that is not a
// usable lock is a usage error (exit 2), a package with no wheel for this
// interpreter an incompatibility (exit 3). The message is lockfile's,
// naming the file and the package.
func syncLockKind(err error) error {
	switch {
	case errors.Is(err, lockfile.ErrInvalid), errors.Is(err, lockfile.ErrUnsupported):
		return errkind.With(err, workspace.ErrUsage)
	case errors.Is(err, lockfile.ErrNoWheel):
		return errkind.With(err, abi.ErrIncompatible)
	}
	return err
}

func syncRefused(refused []string, host *abi.Host, policy abi.Policy) error {
	return fmt.Errorf("%s refused on %s under %s; nothing was changed: %w", strings.Join(refused, ", "), workspace.HostName(host), policy, abi.ErrIncompatible)
}

// syncWants finds each selected wheel in the store by its sha256, or says
// where it will be fetched from. A wheel with no sha256 cannot be checked
// and is refused (ErrUsage): PEP 751 lets a lock give other hashes only,
// but forge keys its store by sha256.
func syncWants(ctx context.Context, w *workspace.Workspace, o SyncOptions, sel []lockfile.Selected) ([]*syncWant, error) {
	wants := make([]*syncWant, 0, len(sel))
	for _, s := range sel {
		sw := &syncWant{sel: s, sha: s.Wheel.SHA256()}
		if sw.sha == "" {
			return nil, fmt.Errorf("%s: package %s: wheel %s has no sha256 hash (only %s); forge verifies wheels by sha256: %w",
				o.Lock, s.Package.ID(), s.Wheel.FileName(), workspace.HashNames(s.Wheel.Hashes), workspace.ErrUsage)
		}
		en, err := w.Store.Get(ctx, sw.sha)
		switch {
		case err == nil:
			sw.entry = en
		case errors.Is(err, store.ErrNotFound):
			if sw.src, err = lockedSource(o, s); err != nil {
				return nil, err
			}
		default:
			return nil, err
		}
		wants = append(wants, sw)
	}
	return wants, nil
}

// syncCheck evaluates every wheel the lock installs that is in the store
// against the host: what the layers below and the locked set itself ship
// count as provided, LOCAL's current packages do not (they may go).
// verdicts are by sha256.
func syncCheck(ctx context.Context, w *workspace.Workspace, e *workspace.Env, wants []*syncWant, host *abi.Host, policy abi.Policy) (refused []string, verdicts map[string]abi.Verdict, err error) {
	var p abi.Provided
	for _, sw := range wants {
		if sw.entry != nil {
			p.Add(&sw.entry.Fingerprint)
		}
	}
	if err := addLayerLibs(ctx, w, &p, belowLayers(e)); err != nil {
		return nil, nil, err
	}
	provided := p.Options()
	verdicts = map[string]abi.Verdict{}
	for _, sw := range wants {
		if sw.entry == nil {
			continue
		}
		v := abi.Evaluate(&sw.entry.Fingerprint, host, policy, provided)
		verdicts[sw.sha] = v
		if v.Refused() {
			refused = append(refused, fmt.Sprintf("%s %s (%s)", sw.entry.Name, sw.entry.Version, workspace.Codes(v.Findings)))
		}
	}
	return refused, verdicts, nil
}

// belowLayers are the layers under e's own: parents, nearest first, then
// GLOBAL.
func belowLayers(e *workspace.Env) []string {
	var out []string
	for _, pr := range e.Chain {
		out = append(out, pr.Name)
	}
	return append(out, workspace.GlobalLayer(e.Py.XY()))
}

// addLayerLibs adds the libraries of every package linked in layers to p.
func addLayerLibs(ctx context.Context, w *workspace.Workspace, p *abi.Provided, layers []string) error {
	for _, l := range layers {
		ms, err := w.Store.Manifests(ctx, l)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if en, err := w.Store.Get(ctx, m.Entry); err == nil {
				p.Add(&en.Fingerprint)
			}
		}
	}
	return nil
}

// syncUnquarantine re-ingests a quarantined entry the sync would link from
// the wheel file it has (as install does); without one it refuses.
func syncUnquarantine(ctx context.Context, w *workspace.Workspace, wants []*syncWant) error {
	for _, sw := range wants {
		reason, err := w.Store.Quarantined(ctx, sw.sha)
		if err != nil {
			return err
		}
		if reason == "" {
			continue
		}
		if sw.src.file == "" {
			return fmt.Errorf("%s %s (%s) %w (%s): give --find-links with its wheel, or install the wheel file, to re-ingest it",
				sw.entry.Name, sw.entry.Version, workspace.Short(sw.sha), store.ErrQuarantined, reason)
		}
		if err := w.Store.Reingest(ctx, sw.sha, sw.src.file); err != nil {
			return err
		}
	}
	return nil
}

// syncPlan is what a sync changes in LOCAL.
type syncPlan struct {
	pkgs   []SyncPackage
	unlink []store.Manifest // rows to unlink, replaced builds included
	link   []syncLink
}

type syncLink struct {
	entry     *store.Entry
	requested bool
	fresh     bool
}

// planSync compares LOCAL (and the winners below it) with the wants. A
// want whose entry is still to be fetched (dry run) is planned from its
// sha256.
func planSync(ctx context.Context, w *workspace.Workspace, e *workspace.Env, l *lockfile.Lock, wants []*syncWant, verdicts map[string]abi.Verdict) (*syncPlan, error) {
	local, err := w.Store.Manifests(ctx, e.Name)
	if err != nil {
		return nil, err
	}
	byName := map[string]store.Manifest{}
	for _, m := range local {
		byName[m.NormName] = m
	}
	below := map[string]layerCopy{} // the copy each name has under LOCAL, nearest winning
	for _, key := range belowLayers(e) {
		ms, err := w.Store.Manifests(ctx, key)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if _, seen := below[m.NormName]; !seen && m.State == store.StateLinked {
				below[m.NormName] = layerCopy{entry: m.Entry, layer: layerName(key)}
			}
		}
	}
	p := &syncPlan{}
	wanted := map[string]bool{}
	for _, sw := range wants {
		norm := sw.norm()
		wanted[norm] = true
		pk := SyncPackage{Name: sw.sel.Package.Name, Version: sw.sel.File.Version, Entry: sw.sha, Layer: "LOCAL"}
		if sw.entry == nil || sw.fresh {
			pk.Fetch = sw.src.String()
		}
		if sw.entry != nil {
			pk.Name, pk.Version = sw.entry.Name, sw.entry.Version
			if v, ok := verdicts[sw.sha]; ok {
				pk.Verdict, pk.Findings = v.Verdict, v.Findings
			}
		}
		m, inLocal := byName[norm]
		switch {
		case inLocal && m.Entry == sw.sha && m.State == store.StateLinked && w.LinksPresent(ctx, e.Name, e.Venv, m.Entry):
			pk.Action = SyncKeep
		case (!inLocal || m.Entry != sw.sha) && below[norm].entry == sw.sha:
			pk.Action, pk.Layer = SyncKeep, below[norm].layer
			if inLocal {
				p.unlink = append(p.unlink, m)
				p.pkgs = append(p.pkgs, removedPackage(ctx, w, m))
			}
		default:
			pk.Action = SyncAdd
			requested := true
			if inLocal {
				p.unlink = append(p.unlink, m)
				requested = m.Requested
				if m.Entry != sw.sha {
					pk.Replaces = removedPackage(ctx, w, m).Version
				}
			}
			p.link = append(p.link, syncLink{entry: sw.entry, requested: requested, fresh: sw.fresh})
		}
		p.pkgs = append(p.pkgs, pk)
	}
	keepPip := !lockListsPip(l)
	for _, m := range local {
		if wanted[m.NormName] || (keepPip && m.NormName == "pip") {
			continue
		}
		p.unlink = append(p.unlink, m)
		p.pkgs = append(p.pkgs, removedPackage(ctx, w, m))
	}
	sort.SliceStable(p.pkgs, func(i, j int) bool {
		a, b := wheel.NormalizeName(p.pkgs[i].Name), wheel.NormalizeName(p.pkgs[j].Name)
		if a != b {
			return a < b
		}
		return p.pkgs[i].Action == SyncRemove && p.pkgs[j].Action != SyncRemove
	})
	return p, nil
}

type layerCopy struct{ entry, layer string }

// layerName labels a layer key in a plan: GLOBAL, or a parent's name.
func layerName(key string) string {
	if store.LayerKey(key).IsGlobal() {
		return "GLOBAL"
	}
	return key
}

// lockListsPip reports whether the lock names pip at all (for any
// interpreter): a lock that does pins pip; one that does not leaves the
// pip forge linked alone.
func lockListsPip(l *lockfile.Lock) bool {
	for _, p := range l.Packages {
		if wheel.NormalizeName(p.Name) == "pip" {
			return true
		}
	}
	return false
}

func removedPackage(ctx context.Context, w *workspace.Workspace, m store.Manifest) SyncPackage {
	pk := SyncPackage{Name: m.NormName, Action: SyncRemove, Entry: m.Entry, Layer: "LOCAL"}
	if en, err := w.Store.Get(ctx, m.Entry); err == nil {
		pk.Name, pk.Version = en.Name, en.Version
	}
	return pk
}

func (r *SyncReport) setPlan(p *syncPlan) {
	r.Packages = p.pkgs
	r.Added, r.Removed, r.Kept, r.Fetched = 0, 0, 0, 0
	for _, pk := range p.pkgs {
		switch pk.Action {
		case SyncAdd:
			r.Added++
		case SyncRemove:
			r.Removed++
		case SyncKeep:
			r.Kept++
		}
		if pk.Fetch != "" {
			r.Fetched++
		}
	}
}

// applySync unlinks, then links, under the layer's lock. On an error it
// undoes what it did (undoSync) and returns the error, still of its kind.
func applySync(ctx context.Context, w *workspace.Workspace, e *workspace.Env, mode linker.Mode, p *syncPlan) error {
	var unlinked []store.Manifest
	var linked []*store.Entry
	for _, m := range p.unlink {
		if err := w.UnlinkManifest(ctx, e.Name, e.Venv, m); err != nil {
			return undoSync(ctx, w, e, linked, unlinked, fmt.Errorf("unlinking %s: %w", m.NormName, err))
		}
		unlinked = append(unlinked, m)
	}
	fresh := map[string]bool{}
	// A package unlinked may have taken a top-level .pth file with it.
	pth := len(unlinked) > 0
	for _, requested := range []bool{false, true} {
		var ents []*store.Entry
		for _, sl := range p.link {
			if sl.requested == requested {
				ents = append(ents, sl.entry)
				fresh[sl.entry.SHA256] = sl.fresh
			}
		}
		if len(ents) == 0 {
			continue
		}
		outs, linkedPth, err := w.LinkEntries(ctx, e.Name, e.Venv, e, ents, mode, requested, fresh)
		pth = pth || linkedPth
		for i, out := range outs {
			if out.Linked && !out.Already {
				linked = append(linked, ents[i])
			}
		}
		if err != nil {
			return undoSync(ctx, w, e, linked, unlinked, err)
		}
	}
	if !pth {
		return nil
	}
	// A .pth file came or may have gone: children see LOCAL as a parent.
	return w.RefreshLayering(ctx, e, false)
}

// undoSync puts LOCAL back as it was before a sync that failed midway:
// it unlinks the entries the sync linked and links again, with their link
// mode and REQUESTED mark, the rows it unlinked. What it cannot undo is
// joined to cause; forge doctor reports what is left.
func undoSync(ctx context.Context, w *workspace.Workspace, e *workspace.Env, linked []*store.Entry, unlinked []store.Manifest, cause error) error {
	errs := []error{}
	for i := len(linked) - 1; i >= 0; i-- {
		en := linked[i]
		m, err := w.Store.ManifestFor(ctx, e.Name, en.NormName)
		if err != nil || m.Entry != en.SHA256 {
			continue
		}
		if err := w.UnlinkManifest(ctx, e.Name, e.Venv, *m); err != nil {
			errs = append(errs, fmt.Errorf("unlinking %s %s: %w", en.Name, en.Version, err))
		}
	}
	type group struct {
		mode      linker.Mode
		requested bool
	}
	groups := map[group][]*store.Entry{}
	var order []group
	for _, m := range unlinked {
		en, err := w.Store.Get(ctx, m.Entry)
		if err != nil {
			errs = append(errs, fmt.Errorf("relinking %s: %w", m.NormName, err))
			continue
		}
		g := group{linker.Mode(m.LinkMode), m.Requested}
		if g.mode == "" {
			g.mode = linker.Symlink
		}
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], en)
	}
	for _, g := range order {
		if _, _, err := w.LinkEntries(ctx, e.Name, e.Venv, e, groups[g], g.mode, g.requested, nil); err != nil {
			errs = append(errs, fmt.Errorf("relinking: %w", err))
		}
	}
	if err := w.RefreshLayering(ctx, e, false); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("sync of %s failed and could not be fully undone (forge doctor reports what is left: %v): %w", e.Name, errors.Join(errs...), cause)
	}
	return fmt.Errorf("sync of %s failed; what it changed was undone: %w", e.Name, cause)
}
