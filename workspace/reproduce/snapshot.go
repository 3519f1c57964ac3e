package reproduce

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
)

// snapshotStamp is the default snapshot name's form (UTC).
const snapshotStamp = "20060102-150405"

// ValidSnapshotName checks a snapshot name: 1-64 of [A-Za-z0-9._-], not
// starting with a dot. Errors wrap ErrUsage.
func ValidSnapshotName(name string) error {
	ok := len(name) > 0 && len(name) <= 64 && name[0] != '.'
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
	}
	if !ok {
		return fmt.Errorf("snapshot name %q: use 1-64 letters, digits, '.', '_' or '-', not starting with '.': %w", name, workspace.ErrUsage)
	}
	return nil
}

// SnapshotOptions are the inputs of Snapshot.
type SnapshotOptions struct {
	Env  string
	Name string // "" = the time now, YYYYMMDD-HHMMSS (UTC), made unique
}

// Snapshot records the environment's own layer (its packages: entry, link
// mode, requested flag) and its settings under a name. The entries stay
// in the store, whatever gc finds, until the snapshot is removed. A name
// the environment already uses is store.ErrExists; nothing is changed.
func Snapshot(ctx context.Context, w *workspace.Workspace, o SnapshotOptions) (sn *store.Snapshot, err error) {
	if o.Name != "" {
		if err := ValidSnapshotName(o.Name); err != nil {
			return nil, err
		}
	}
	e, err := w.OpenUsableEnv(ctx, o.Env)
	if err != nil {
		return nil, err
	}
	args := []string{e.Name}
	if o.Name != "" {
		args = append(args, o.Name)
	}
	op, err := w.BeginHistory(ctx, e.Name, "snapshot", args)
	if err != nil {
		return nil, err
	}
	defer func() { op.Finish(ctx, nil, nil, nil, err) }()
	lk, err := lockSettled(ctx, w, e)
	if err != nil {
		return nil, err
	}
	defer lk.Unlock()
	if o.Name != "" {
		return w.Store.CreateSnapshot(ctx, e.Name, o.Name, false, w.Now())
	}
	return snapshotNow(ctx, w, e, "", false)
}

// snapshotNow records a snapshot named prefix+the time, with -2, -3, … on
// a clash (two in one second). The caller holds the layer's lock.
func snapshotNow(ctx context.Context, w *workspace.Workspace, e *workspace.Env, prefix string, auto bool) (*store.Snapshot, error) {
	now := w.Now()
	base := prefix + now.UTC().Format(snapshotStamp)
	for i := 1; ; i++ {
		name := base
		if i > 1 {
			name += "-" + strconv.Itoa(i)
		}
		sn, err := w.Store.CreateSnapshot(ctx, e.Name, name, auto, now)
		if errors.Is(err, store.ErrExists) && i < 100 {
			continue
		}
		return sn, err
	}
}

// lockSettled locks e's layer for a snapshot or a rollback, refusing a
// layer an interrupted command left unsettled (refuseUnsettled). The caller
// unlocks.
func lockSettled(ctx context.Context, w *workspace.Workspace, e *workspace.Env) (*store.Lock, error) {
	lk, err := w.LockLayer(ctx, e, e.Name)
	if err != nil {
		return nil, err
	}
	if err := refuseUnsettled(ctx, w, e); err != nil {
		lk.Unlock()
		return nil, err
	}
	return lk, nil
}

// refuseUnsettled fails when the layer has a manifest row an interrupted
// command left (not "linked") or an interrupted rollback: doctor --fix
// settles them first.
func refuseUnsettled(ctx context.Context, w *workspace.Workspace, e *workspace.Env) error {
	ms, err := w.Store.Manifests(ctx, e.Name)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.State != store.StateLinked {
			return fmt.Errorf("environment %s: %s was left %s by an interrupted command: run forge doctor --fix first: %w", e.Name, m.NormName, m.State, store.ErrLocked)
		}
	}
	pending, err := w.Store.PendingRollbacks(ctx)
	if err != nil {
		return err
	}
	for _, p := range pending {
		if p.Env == e.Name {
			return fmt.Errorf("environment %s: a rollback to %s was interrupted: run forge doctor --fix first: %w", e.Name, p.Snapshot, store.ErrLocked)
		}
	}
	return nil
}

// autoSnapshot records an automatic snapshot of e named
// auto-REASON-YYYYMMDD-HHMMSS before an operation that replaces the layer
// (rollback; sync), then drops the oldest automatic snapshots beyond the
// environment's auto_snapshots setting (default 5; 0: none is taken and
// "" returned). Snapshots taken by hand are never dropped. The caller
// holds the layer's lock.
func autoSnapshot(ctx context.Context, w *workspace.Workspace, e *workspace.Env, reason string) (name string, err error) {
	row, err := w.Store.GetEnv(ctx, e.Name)
	if err != nil {
		return "", err
	}
	keep := workspace.DefaultAutoSnapshots
	if v, ok := row.Settings[workspace.SettingAutoSnapshots]; ok {
		if keep, err = strconv.Atoi(v); err != nil {
			return "", fmt.Errorf("environment %s: setting %s = %q: %w", e.Name, workspace.SettingAutoSnapshots, v, workspace.ErrUsage)
		}
	}
	if keep <= 0 {
		return "", nil
	}
	sn, err := snapshotNow(ctx, w, e, "auto-"+reason+"-", true)
	if err != nil {
		return "", err
	}
	if _, err := w.Store.PruneAutoSnapshots(ctx, e.Name, keep); err != nil {
		return sn.Name, err
	}
	return sn.Name, nil
}

// Snapshots lists an environment's snapshots, oldest first, with their
// packages and settings.
func Snapshots(ctx context.Context, w *workspace.Workspace, env string) ([]*store.Snapshot, error) {
	if _, err := w.Store.GetEnv(ctx, env); err != nil {
		return nil, err
	}
	out, err := w.Store.Snapshots(ctx, env)
	if out == nil {
		out = []*store.Snapshot{}
	}
	return out, err
}

// RemoveSnapshot deletes an environment's snapshot (store.ErrNotFound when
// it has none of that name); gc may then collect the entries only it kept.
func RemoveSnapshot(ctx context.Context, w *workspace.Workspace, env, name string) (err error) {
	if err := ValidSnapshotName(name); err != nil {
		return err
	}
	if _, err := w.Store.GetEnv(ctx, env); err != nil {
		return err
	}
	op, err := w.BeginHistory(ctx, env, "snapshot", []string{"rm", env, name})
	if err != nil {
		return err
	}
	defer func() { op.Finish(ctx, nil, nil, nil, err) }()
	return w.Store.RemoveSnapshot(ctx, env, name)
}
