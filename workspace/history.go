package workspace

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/forge-ml/forge/store"
)

// HistoryChange is one package or setting an operation changed.
type HistoryChange = store.HistoryChange

// HistoryOp is one operation's row in its environment's history, written
// "running" by BeginHistory before the operation changes anything and
// completed once by Finish. A nil *HistoryOp records nothing.
type HistoryOp struct {
	w  *Workspace
	id int64
}

// BeginHistory appends a "running" row for command (with args) on env. A
// crash before Finish leaves the row as it is: History then shows the
// operation as did_not_finish.
func (w *Workspace) BeginHistory(ctx context.Context, env, command string, args []string) (*HistoryOp, error) {
	line := append([]string{"forge", command}, quoteArgs(args)...)
	v := w.Version
	if v == "" {
		v = "dev"
	}
	id, err := w.Store.BeginHistory(ctx, env, strings.Join(line, " "), v, os.Getpid(), w.Now())
	if err != nil {
		return nil, fmt.Errorf("environment %s: recording the operation in its history: %w", env, err)
	}
	return &HistoryOp{w: w, id: id}, nil
}

// Finish completes the row with the operation's outcome and changes; err
// is the operation's error (nil: it succeeded). The row is never written
// again. A failure to write it is logged, not returned over the
// operation's own outcome.
func (op *HistoryOp) Finish(ctx context.Context, added, removed, changed []HistoryChange, err error) {
	if op == nil {
		return
	}
	status, code, text := store.HistoryOK, 0, ""
	if err != nil {
		status, code, text = store.HistoryFailed, 1, err.Error()
		if op.w.ExitCode != nil {
			code = op.w.ExitCode(err)
		}
	}
	ch := store.HistoryChanges{Added: nonNil(added), Removed: nonNil(removed), Changed: nonNil(changed)}
	// The operation's context may be cancelled (Ctrl-C): its outcome is
	// still recorded.
	if ferr := op.w.Store.FinishHistory(context.WithoutCancel(ctx), op.id, status, code, text, ch, op.w.Now()); ferr != nil {
		op.w.Logf("history: %v", ferr)
	}
}

func nonNil(cs []HistoryChange) []HistoryChange {
	if cs == nil {
		return []HistoryChange{}
	}
	return cs
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n\"'\\$`") {
			a = strconv.Quote(a)
		}
		out[i] = a
	}
	return out
}

// LayerOp is a history row for an operation that changes one layer: the
// changes are what its packages were before and after.
type LayerOp struct {
	*HistoryOp
	env    string
	layer  string
	before map[string]store.SnapshotEntry
}

// BeginLayerOp begins env's history row for an operation on its own layer
// (or, global, on GLOBAL's for its Python). An environment that does not
// exist gets none (nil, nil): the operation itself reports it.
func (w *Workspace) BeginLayerOp(ctx context.Context, env string, global bool, command string, args []string) (*LayerOp, error) {
	row, err := w.Store.GetEnv(ctx, env)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	layer := row.Name
	if global {
		layer = GlobalLayer(PyXY(row.PythonVersion))
	}
	before, err := w.LayerPackages(ctx, layer)
	if err != nil {
		return nil, err
	}
	op, err := w.BeginHistory(ctx, row.Name, command, args)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil // removed meanwhile: the operation says so
	}
	if err != nil {
		return nil, err
	}
	return &LayerOp{HistoryOp: op, env: row.Name, layer: layer, before: before}, nil
}

// Done finishes the row with the layer's changes since BeginLayerOp.
func (op *LayerOp) Done(ctx context.Context, err error) {
	op.DoneWithSettings(ctx, nil, err)
}

// DoneWithSettings is done, with the environment's settings changes since
// before (nil: none recorded) added to the packages'.
func (op *LayerOp) DoneWithSettings(ctx context.Context, before map[string]string, err error) {
	if op == nil {
		return
	}
	ctx0 := context.WithoutCancel(ctx)
	after, aerr := op.w.LayerPackages(ctx0, op.layer)
	if aerr != nil {
		op.w.Logf("history: %v", aerr)
	}
	added, removed, changed := diffPackages(op.before, after)
	if before != nil {
		if row, gerr := op.w.Store.GetEnv(ctx0, op.env); gerr == nil {
			changed = append(changed, SettingsChanges(before, row.Settings)...)
		}
	}
	op.Finish(ctx, added, removed, changed, err)
}

// LayerPackages are a layer's packages by normalised name.
func (w *Workspace) LayerPackages(ctx context.Context, layer string) (map[string]store.SnapshotEntry, error) {
	ps, err := w.Store.LayerPackages(ctx, layer)
	if err != nil {
		return nil, err
	}
	out := make(map[string]store.SnapshotEntry, len(ps))
	for _, p := range ps {
		out[p.NormName] = p
	}
	return out, nil
}

// diffPackages lists, by name, what after added to before, removed from it
// and changed in it (another version or build).
func diffPackages(before, after map[string]store.SnapshotEntry) (added, removed, changed []HistoryChange) {
	for _, n := range sortedKeys(after) {
		a := after[n]
		b, ok := before[n]
		switch {
		case !ok:
			added = append(added, HistoryChange{Name: a.Name, NewVersion: a.Version, NewDigest: a.Entry})
		case b.Entry != a.Entry:
			changed = append(changed, HistoryChange{Name: a.Name, OldVersion: b.Version, OldDigest: b.Entry, NewVersion: a.Version, NewDigest: a.Entry})
		}
	}
	for _, n := range sortedKeys(before) {
		if _, ok := after[n]; !ok {
			b := before[n]
			removed = append(removed, HistoryChange{Name: b.Name, OldVersion: b.Version, OldDigest: b.Entry})
		}
	}
	return added, removed, changed
}

// SettingsChanges lists the settings that differ between two maps, as
// changes named "setting KEY" whose versions are the values.
func SettingsChanges(before, after map[string]string) []HistoryChange {
	out := []HistoryChange{}
	keys := map[string]bool{}
	for k := range before {
		keys[k] = true
	}
	for k := range after {
		keys[k] = true
	}
	for _, k := range sortedKeys(keys) {
		if before[k] != after[k] {
			out = append(out, HistoryChange{Name: "setting " + k, OldVersion: before[k], NewVersion: after[k]})
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
