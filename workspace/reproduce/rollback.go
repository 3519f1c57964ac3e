package reproduce

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"strings"

	"github.com/forge-ml/forge/linker"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
)

// RollbackOptions are the inputs of Rollback.
type RollbackOptions struct {
	Env  string
	Name string // the snapshot
	// DryRun plans only: what would be added, removed and kept.
	DryRun bool
}

// RollbackPackage is one package of a rollback plan.
type RollbackPackage struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Entry   string `json:"entry"`
}

// RollbackReport is what Rollback did, or with DryRun would do.
type RollbackReport struct {
	Env      string `json:"env"`
	Snapshot string `json:"snapshot"`
	DryRun   bool   `json:"dry_run"`
	// Add are linked, Remove unlinked, Keep left as they are. A package
	// whose entry, link mode or requested flag differs is removed and added.
	Add    []RollbackPackage `json:"add"`
	Remove []RollbackPackage `json:"remove"`
	Keep   []RollbackPackage `json:"keep"`
	// Settings are the settings that change ("setting KEY", old → new).
	Settings []workspace.HistoryChange `json:"settings"`
	// AutoSnapshot is the automatic snapshot taken before anything changed
	// ("" when none: auto_snapshots is 0, or nothing was to change).
	AutoSnapshot string `json:"auto_snapshot,omitempty"`
}

// layerState is what a rollback restores: a layer's packages and the
// environment's settings.
type layerState struct {
	packages []store.SnapshotEntry
	settings map[string]string
}

func snapshotState(sn *store.Snapshot) layerState {
	return layerState{packages: sn.Entries, settings: sn.Settings}
}

// rollbackPlan is the difference between a layer and a state.
type rollbackPlan struct {
	remove   []store.Manifest
	add      []store.SnapshotEntry
	entries  map[string]*store.Entry // of add, by digest
	settings []workspace.HistoryChange
	// newSettings are the settings the environment ends with.
	newSettings map[string]string
	rep         RollbackReport
}

func (p *rollbackPlan) empty() bool {
	return len(p.remove) == 0 && len(p.add) == 0 && len(p.settings) == 0
}

// planRollback compares e's layer with target. Every entry to add must be
// in the store and not quarantined, and every row of the layer "linked":
// otherwise the error names what is wrong and nothing may be changed.
func planRollback(ctx context.Context, w *workspace.Workspace, e *workspace.Env, target layerState) (*rollbackPlan, error) {
	ms, err := w.Store.Manifests(ctx, e.Name)
	if err != nil {
		return nil, err
	}
	row, err := w.Store.GetEnv(ctx, e.Name)
	if err != nil {
		return nil, err
	}
	want := map[string]store.SnapshotEntry{}
	for _, p := range target.packages {
		want[p.NormName] = p
	}
	cur, err := w.LayerPackages(ctx, e.Name)
	if err != nil {
		return nil, err
	}
	p := &rollbackPlan{entries: map[string]*store.Entry{}}
	p.rep = RollbackReport{Env: e.Name, Add: []RollbackPackage{}, Remove: []RollbackPackage{}, Keep: []RollbackPackage{}}
	kept := map[string]bool{}
	for _, m := range ms {
		if m.State != store.StateLinked {
			return nil, fmt.Errorf("environment %s: %s was left %s by an interrupted command: run forge doctor --fix first: %w", e.Name, m.NormName, m.State, store.ErrLocked)
		}
		c := cur[m.NormName]
		rp := RollbackPackage{Name: c.Name, Version: c.Version, Entry: m.Entry}
		if t, ok := want[m.NormName]; ok && t.Entry == m.Entry && t.LinkMode == m.LinkMode && t.Requested == m.Requested {
			kept[m.NormName] = true
			p.rep.Keep = append(p.rep.Keep, rp)
			continue
		}
		p.remove = append(p.remove, m)
		p.rep.Remove = append(p.rep.Remove, rp)
	}
	var gone []string
	for _, t := range target.packages {
		if kept[t.NormName] {
			continue
		}
		en, err := w.Store.Get(ctx, t.Entry)
		if errors.Is(err, store.ErrNotFound) {
			gone = append(gone, fmt.Sprintf("%s %s (%s)", t.Name, t.Version, workspace.Short(t.Entry)))
			continue
		}
		if err != nil {
			return nil, err
		}
		if reason, err := w.Store.Quarantined(ctx, t.Entry); err != nil {
			return nil, err
		} else if reason != "" {
			return nil, fmt.Errorf("%s %s (%s) %w (%s): install its wheel file to re-ingest it, then roll back; nothing was changed", t.Name, t.Version, workspace.Short(t.Entry), store.ErrQuarantined, reason)
		}
		p.entries[t.Entry] = en
		p.add = append(p.add, t)
		p.rep.Add = append(p.rep.Add, RollbackPackage{Name: t.Name, Version: t.Version, Entry: t.Entry})
	}
	if len(gone) > 0 {
		return nil, fmt.Errorf("%s no longer in the store (removed by doctor, or the store was replaced); nothing was changed: %w",
			strings.Join(gone, ", ")+workspace.Plural(len(gone), " is", " are"), store.ErrNotFound)
	}
	// auto_snapshots is about the snapshots, not the environment's
	// packages: a rollback keeps its current value (a snapshot older than
	// the setting would otherwise turn it back up, or off).
	p.newSettings = maps.Clone(target.settings)
	if p.newSettings == nil {
		p.newSettings = map[string]string{}
	}
	delete(p.newSettings, workspace.SettingAutoSnapshots)
	if v, ok := row.Settings[workspace.SettingAutoSnapshots]; ok {
		p.newSettings[workspace.SettingAutoSnapshots] = v
	}
	p.settings = workspace.SettingsChanges(row.Settings, p.newSettings)
	p.rep.Settings = p.settings
	return p, nil
}

// Rollback restores an environment's own layer and settings to a snapshot:
// what the snapshot lacks is unlinked, what it has is linked (from the
// store: an entry gone from it is store.ErrNotFound before anything
// changes), then its settings are written.
//
// All or nothing: an automatic snapshot of the environment as it was is
// taken first (setting auto_snapshots), then the rollback is recorded in
// the database before any file changes. On an error the environment is
// put back as it was and the record dropped; a crash (or a failed undo)
// leaves the record, which forge doctor reports as rollback_interrupted
// and doctor --fix finishes. The gc lock is held shared and the layer's
// lock exclusively throughout.
func Rollback(ctx context.Context, w *workspace.Workspace, o RollbackOptions) (rep *RollbackReport, err error) {
	if err := ValidSnapshotName(o.Name); err != nil {
		return nil, err
	}
	e, err := w.OpenUsableEnv(ctx, o.Env)
	if err != nil {
		return nil, err
	}
	sn, err := w.Store.SnapshotNamed(ctx, e.Name, o.Name)
	if err != nil {
		return nil, err
	}
	if o.DryRun {
		p, err := planRollback(ctx, w, e, snapshotState(sn))
		if err != nil {
			return nil, err
		}
		p.rep.Snapshot, p.rep.DryRun = sn.Name, true
		return &p.rep, nil
	}
	op, err := w.BeginLayerOp(ctx, e.Name, false, "rollback", []string{e.Name, o.Name})
	if err != nil {
		return nil, err
	}
	// Settings changes go with the packages'.
	before := maps.Clone(e.Settings)
	if before == nil {
		before = map[string]string{}
	}
	defer func() { op.DoneWithSettings(ctx, before, err) }()
	gcLock, err := w.Store.LockGC(ctx, false, w.Waiting("the store (gc running)"))
	if err != nil {
		return nil, err
	}
	defer gcLock.Unlock()
	lk, err := lockSettled(ctx, w, e)
	if err != nil {
		return nil, err
	}
	defer lk.Unlock()
	target := snapshotState(sn)
	p, err := planRollback(ctx, w, e, target)
	if err != nil {
		return nil, err
	}
	rep = &p.rep
	rep.Snapshot = sn.Name
	if p.empty() {
		return rep, nil
	}
	pkgs, err := w.Store.LayerPackages(ctx, e.Name)
	if err != nil {
		return rep, err
	}
	row, err := w.Store.GetEnv(ctx, e.Name)
	if err != nil {
		return rep, err
	}
	was := layerState{packages: pkgs, settings: row.Settings}
	if rep.AutoSnapshot, err = autoSnapshot(ctx, w, e, "rollback"); err != nil {
		return rep, err
	}
	if err := w.Store.BeginRollback(ctx, e.Name, sn.Name, w.Now()); err != nil {
		return rep, err
	}
	if err := applyRollback(ctx, w, e, p); err != nil {
		// Put the environment back as it was: the entries it had are kept
		// from gc by the gc lock held since before they were unlinked.
		up, uerr := planRollback(ctx, w, e, was)
		if uerr == nil {
			uerr = applyRollback(ctx, w, e, up)
		}
		if uerr != nil {
			return rep, fmt.Errorf("rolling %s back to %s: %w; putting it back as it was failed too (%v): forge doctor --fix finishes the rollback", e.Name, sn.Name, err, uerr)
		}
		if eerr := w.Store.EndRollback(ctx, e.Name); eerr != nil {
			return rep, errors.Join(err, eerr)
		}
		return rep, fmt.Errorf("rolling %s back to %s: %w; the environment is as it was", e.Name, sn.Name, err)
	}
	return rep, w.Store.EndRollback(ctx, e.Name)
}

// applyRollback carries out a plan: unlinks, links (grouped by link mode
// and requested flag, in the snapshot's order), then the settings. The
// caller holds the gc and layer locks. Every step is recorded as install
// and uninstall record theirs, so that a crash between two leaves rows
// doctor settles before it finishes the rollback.
func applyRollback(ctx context.Context, w *workspace.Workspace, e *workspace.Env, p *rollbackPlan) error {
	if err := faultPoint("rollback-begun"); err != nil {
		return err
	}
	for _, m := range p.remove {
		if err := w.UnlinkManifest(ctx, e.Name, e.Venv, m); err != nil {
			return fmt.Errorf("%s: %w", m.NormName, err)
		}
	}
	if err := faultPoint("rollback-unlinked"); err != nil {
		return err
	}
	type group struct {
		mode      linker.Mode
		requested bool
	}
	var order []group
	byGroup := map[group][]*store.Entry{}
	for _, t := range p.add {
		g := group{linker.Mode(t.LinkMode), t.Requested}
		if _, ok := byGroup[g]; !ok {
			order = append(order, g)
		}
		byGroup[g] = append(byGroup[g], p.entries[t.Entry])
	}
	pth := len(p.remove) > 0
	for _, g := range order {
		_, gp, err := w.LinkEntries(ctx, e.Name, e.Venv, e, byGroup[g], g.mode, g.requested, nil)
		if err != nil {
			return err
		}
		pth = pth || gp
	}
	if err := faultPoint("rollback-linked"); err != nil {
		return err
	}
	if len(p.settings) > 0 {
		if err := w.Store.SetEnvSettings(ctx, e.Name, p.newSettings); err != nil {
			return err
		}
		e.Settings = maps.Clone(p.newSettings)
	}
	if pth {
		return w.RefreshLayering(ctx, e, false)
	}
	return nil
}

// FinishRollback is doctor --fix's repair of an interrupted rollback: the
// environment is brought to the snapshot and the record dropped. Doctor
// holds the gc and every layer's lock and has settled the layer's rows.
func FinishRollback(ctx context.Context, w *workspace.Workspace, env, snapshot string) (err error) {
	e, err := w.OpenEnv(ctx, env)
	if err != nil {
		return err
	}
	sn, err := w.Store.SnapshotNamed(ctx, env, snapshot)
	if err != nil {
		return err
	}
	op, err := w.BeginLayerOp(ctx, env, false, "doctor", []string{"--fix", "(finishing rollback to " + snapshot + ")"})
	if err != nil {
		return err
	}
	defer func() { op.Done(ctx, err) }()
	p, err := planRollback(ctx, w, e, snapshotState(sn))
	if err != nil {
		return err
	}
	if err := applyRollback(ctx, w, e, p); err != nil {
		return err
	}
	return w.Store.EndRollback(ctx, env)
}

// faultPoint is where tests interrupt a rollback: the named step has been
// committed. It is inert unless FORGE_TEST_FAULT names the step, in which
// case the process exits at once (status 137, as if killed), releasing
// only what the kernel releases (its locks). Workspace tests replace it to
// stop the goroutine there (a crash) or to return an error (a failure the
// rollback undoes).
var faultPoint = func(step string) error {
	if os.Getenv("FORGE_TEST_FAULT") == step {
		os.Exit(137)
	}
	return nil
}
