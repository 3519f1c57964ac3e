package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/forge-ml/forge/linker"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
	"github.com/forge-ml/forge/workspace/reproduce"
)

// doctor's repairs: the fixes it plans from the issues and how each is applied.

// fixPlan is one repair and what it needs.
type fixPlan struct {
	Fix
	m       store.Manifest
	env     string
	entry   string
	layer   string
	path    string
	staging workspace.StaleItem
}

// order in which repairs run: leftovers first, then rows, then links (a
// rollback before a relink: it may free a path the relink needs), then
// permissions and counts.
var fixOrder = map[string]int{
	"remove_staging": 0, "remove_orphan_dir": 1, "remove_stray": 2, "drop_entry_row": 3, "forget_env": 4,
	"drop_manifest": 5, "forget_removed": 5, "drop_link_rows": 6, "rollback_link": 7, "finish_unlink": 8, "relink": 9,
	"reingest": 8, "seal_entry": 10, "remove_orphan_env": 11, "recount": 12,
	linkPipAction: 13, ForgetReplacedAction: 8, // pip.go, replaced.go
	refingerprintAction:  14, // fp.go
	FinishRollbackAction: 11, // rollback.go: after the rows are settled
}

// planFixes dedupes the issues' repairs (many broken links, one relink) and
// orders them.
func planFixes(issues []Issue) []*fixPlan {
	seen := map[string]bool{}
	var out []*fixPlan
	for _, is := range issues {
		if is.fix == nil {
			continue
		}
		key := is.fix.Action + "\x00" + is.fix.Target
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, is.fix)
	}
	// A manifest rolled back or finished needs no relink.
	gone := map[string]bool{}
	for _, p := range out {
		if p.Action == "rollback_link" || p.Action == "finish_unlink" || p.Action == "drop_manifest" || p.Action == "forget_removed" {
			gone[p.Target] = true
		}
	}
	kept := out[:0]
	for _, p := range out {
		if p.Action == "relink" && gone[p.Target] {
			continue
		}
		kept = append(kept, p)
	}
	sort.SliceStable(kept, func(i, j int) bool { return fixOrder[kept[i].Action] < fixOrder[kept[j].Action] })
	return kept
}

func (p *fixPlan) apply(ctx context.Context, w *workspace.Workspace) error {
	switch p.Action {
	case "remove_staging":
		ok, err := p.staging.Remove(ctx)
		if err == nil && !ok {
			return fmt.Errorf("in use by a running forge: left in place")
		}
		return err
	case "remove_orphan_dir":
		_, err := w.Store.RemoveOrphanDir(ctx, p.entry)
		return err
	case "remove_stray":
		return os.RemoveAll(p.path) // links are removed, never followed
	case "drop_entry_row":
		ok, err := w.Store.DropEntryRow(ctx, p.entry)
		if err == nil && !ok {
			return fmt.Errorf("entry %s is referenced again: left in place", workspace.Short(p.entry))
		}
		return err
	case "forget_env":
		return w.Store.ForgetEnv(ctx, p.env)
	case "drop_manifest":
		venv := w.LayerVenv(ctx, p.m.Layer)
		if err := w.DropOwned(ctx, p.m.Layer, venv, p.m.Entry); err != nil {
			return err
		}
		return w.Store.DropManifest(ctx, p.m.Layer, p.m.NormName)
	case "forget_removed":
		// What pip left of forge's links goes with the row; whatever now
		// stands at those paths is pip's (pip install -U replaces a
		// package's files in place) and stays. The entry stays in the store
		// for gc.
		venv := w.LayerVenv(ctx, p.m.Layer)
		if err := dropStoreLinks(ctx, w, p.m.Layer, venv, p.m.Entry); err != nil {
			return err
		}
		return w.Store.DropManifest(ctx, p.m.Layer, p.m.NormName)
	case "drop_link_rows":
		return w.Store.DropLinkRows(ctx, p.layer, p.entry)
	case "rollback_link":
		return rollbackLink(ctx, w, p.m)
	case "finish_unlink":
		return finishUnlink(ctx, w, p.m)
	case "relink":
		return w.Relink(ctx, p.m)
	case "reingest":
		return reingest(ctx, w, p.entry, p.path)
	case "seal_entry":
		_, err := w.Store.SealEntry(p.entry)
		return err
	case "remove_orphan_env":
		return removeOrphanEnv(ctx, w, p.env, p.path)
	case "recount":
		_, err := w.Store.Recount(ctx)
		return err
	case linkPipAction: // pip.go
		return fixPip(ctx, w, p.env)
	case ForgetReplacedAction: // replaced.go
		return w.Store.DropManifest(ctx, p.m.Layer, p.m.NormName)
	case refingerprintAction: // fp.go
		return refingerprint(ctx, w, p.entry)
	case FinishRollbackAction: // rollback.go
		return reproduce.FinishRollback(ctx, w, p.env, p.path)
	}
	return fmt.Errorf("unknown fix %q", p.Action)
}

// finishUnlink completes an interrupted uninstall of m: its links go, then
// its row.
func finishUnlink(ctx context.Context, w *workspace.Workspace, m store.Manifest) error {
	venv := w.LayerVenv(ctx, m.Layer)
	if err := w.Store.SetManifestState(ctx, m.Layer, m.NormName, store.StateUnlinking); err != nil {
		return err
	}
	if err := w.DropOwned(ctx, m.Layer, venv, m.Entry); err != nil {
		return err
	}
	return w.Store.DropManifest(ctx, m.Layer, m.NormName)
}

// removeOrphanEnv removes the directory path of environment env, which has
// no record, unless a create holds its lock or has recorded it since.
func removeOrphanEnv(ctx context.Context, w *workspace.Workspace, env, path string) error {
	lk, err := w.Store.TryLockEnv(env)
	if lk == nil || err != nil {
		return fmt.Errorf("environment %s is being created: left in place", env)
	}
	defer lk.Unlock()
	if _, err := w.Store.GetEnv(ctx, env); err == nil {
		return fmt.Errorf("environment %s is recorded now: left in place", env)
	}
	return os.RemoveAll(path)
}

// dropStoreLinks removes, of the paths only entry owns in layer, those that
// are still links into the store; anything else at those paths is no
// longer forge's.
func dropStoreLinks(ctx context.Context, w *workspace.Workspace, layer string, venv linker.Venv, entry string) error {
	links, err := w.Store.ExclusiveLinks(ctx, layer, entry)
	if err != nil {
		return err
	}
	for _, l := range links {
		abs := filepath.Join(venv.Root, filepath.FromSlash(l.Path))
		if !workspace.Within(abs, venv.Root) {
			continue
		}
		fi, err := os.Lstat(abs)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		if t, err := os.Readlink(abs); err == nil && intoStore(w, workspace.AbsTarget(abs, t)) {
			if err := os.Remove(abs); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// rollbackLink undoes an install interrupted between its manifest row and
// its commit: the links it made were never recorded, so they are found from
// the entry's own layout (what linker.Link would create) and removed when no
// recorded package owns them; then the row goes and the refcount follows.
func rollbackLink(ctx context.Context, w *workspace.Workspace, m store.Manifest) error {
	venv := w.LayerVenv(ctx, m.Layer)
	if err := w.DropOwned(ctx, m.Layer, venv, m.Entry); err != nil {
		return err
	}
	if en, err := w.Store.Get(ctx, m.Entry); err == nil {
		strays, err := w.Strays(ctx, m.Layer, venv, en)
		if err != nil {
			return err
		}
		if err := workspace.RemoveStrays(venv, strays); err != nil {
			return err
		}
	}
	return w.Store.DropManifest(ctx, m.Layer, m.NormName)
}
