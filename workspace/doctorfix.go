package workspace

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/forge-ml/forge/linker"
	"github.com/forge-ml/forge/probe"
	"github.com/forge-ml/forge/store"
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
	staging staleItem
}

// order in which repairs run: leftovers first, then rows, then links (a
// rollback before a relink: it may free a path the relink needs), then
// permissions and counts.
var fixOrder = map[string]int{
	"remove_staging": 0, "remove_orphan_dir": 1, "remove_stray": 2, "drop_entry_row": 3, "forget_env": 4,
	"drop_manifest": 5, "forget_removed": 5, "drop_link_rows": 6, "rollback_link": 7, "finish_unlink": 8, "relink": 9,
	"reingest": 8, "seal_entry": 10, "remove_orphan_env": 11, "recount": 12,
	linkPipAction: 13, forgetReplacedAction: 8, // doctorpip.go, doctorreplaced.go
	refingerprintAction:  14, // doctorfp.go
	finishRollbackAction: 11, // doctorrollback.go: after the rows are settled
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

func (p *fixPlan) apply(ctx context.Context, w *Workspace) error {
	switch p.Action {
	case "remove_staging":
		ok, err := p.staging.remove(ctx)
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
			return fmt.Errorf("entry %s is referenced again: left in place", short(p.entry))
		}
		return err
	case "forget_env":
		return w.Store.ForgetEnv(ctx, p.env)
	case "drop_manifest":
		venv := w.layerVenv(ctx, p.m.Layer)
		if err := w.dropOwned(ctx, p.m.Layer, venv, p.m.Entry); err != nil {
			return err
		}
		return w.Store.DropManifest(ctx, p.m.Layer, p.m.NormName)
	case "forget_removed":
		// What pip left of forge's links goes with the row; whatever now
		// stands at those paths is pip's (pip install -U replaces a
		// package's files in place) and stays. The entry stays in the store
		// for gc.
		venv := w.layerVenv(ctx, p.m.Layer)
		if err := w.dropStoreLinks(ctx, p.m.Layer, venv, p.m.Entry); err != nil {
			return err
		}
		return w.Store.DropManifest(ctx, p.m.Layer, p.m.NormName)
	case "drop_link_rows":
		return w.Store.DropLinkRows(ctx, p.layer, p.entry)
	case "rollback_link":
		return w.rollbackLink(ctx, p.m)
	case "finish_unlink":
		return w.finishUnlink(ctx, p.m)
	case "relink":
		return w.relink(ctx, p.m)
	case "reingest":
		return w.reingest(ctx, p.entry, p.path)
	case "seal_entry":
		_, err := w.Store.SealEntry(p.entry)
		return err
	case "remove_orphan_env":
		return w.removeOrphanEnv(ctx, p.env, p.path)
	case "recount":
		_, err := w.Store.Recount(ctx)
		return err
	case linkPipAction: // doctorpip.go
		return w.fixPip(ctx, p.env)
	case forgetReplacedAction: // doctorreplaced.go
		return w.Store.DropManifest(ctx, p.m.Layer, p.m.NormName)
	case refingerprintAction: // doctorfp.go
		return w.refingerprint(ctx, p.entry)
	case finishRollbackAction: // doctorrollback.go
		return w.finishRollback(ctx, p.env, p.path)
	}
	return fmt.Errorf("unknown fix %q", p.Action)
}

// finishUnlink completes an interrupted uninstall of m: its links go, then
// its row.
func (w *Workspace) finishUnlink(ctx context.Context, m store.Manifest) error {
	venv := w.layerVenv(ctx, m.Layer)
	if err := w.Store.SetManifestState(ctx, m.Layer, m.NormName, store.StateUnlinking); err != nil {
		return err
	}
	if err := w.dropOwned(ctx, m.Layer, venv, m.Entry); err != nil {
		return err
	}
	return w.Store.DropManifest(ctx, m.Layer, m.NormName)
}

// removeOrphanEnv removes the directory path of environment env, which has
// no record, unless a create holds its lock or has recorded it since.
func (w *Workspace) removeOrphanEnv(ctx context.Context, env, path string) error {
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

// layerTarget is what linkEntry needs for a layer: an Env (for launchers)
// and the layer's prefix.
func (w *Workspace) layerTarget(ctx context.Context, layer string) (*Env, linker.Venv, error) {
	if xy, ok := store.LayerKey(layer).XY(); ok {
		py, err := w.pythonXY(ctx, xy)
		if err != nil {
			return nil, linker.Venv{}, err
		}
		e := &Env{Py: py}
		return e, w.globalVenv(py), nil
	}
	e, err := w.OpenEnv(ctx, layer)
	if err != nil {
		return nil, linker.Venv{}, err
	}
	return e, e.Venv, nil
}

// pythonXY finds an interpreter of Python X.Y: an environment's, else one
// on this machine.
func (w *Workspace) pythonXY(ctx context.Context, xy string) (*probe.Interp, error) {
	envs, err := w.Store.ListEnvs(ctx)
	if err != nil {
		return nil, err
	}
	for _, e := range envs {
		if pyXY(e.PythonVersion) == xy {
			if py, err := w.Interp(e.Python); err == nil {
				return py, nil
			}
		}
	}
	exe, err := probe.FindPython(xy)
	if err != nil {
		return nil, err
	}
	return w.Interp(exe)
}

func pyXY(version string) string {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return version
	}
	return parts[0] + "." + parts[1]
}

// layerVenv is a layer's prefix good enough for removing paths: from its
// interpreter when it still runs, else from the recorded Python version.
func (w *Workspace) layerVenv(ctx context.Context, layer string) linker.Venv {
	if _, v, err := w.layerTarget(ctx, layer); err == nil {
		return v
	}
	xy, global := store.LayerKey(layer).XY()
	root := filepath.Join(w.Home, "global", xy)
	if !global {
		root = filepath.Join(w.EnvsDir(), layer)
		if row, err := w.Store.GetEnv(ctx, layer); err == nil {
			xy = pyXY(row.PythonVersion) // the root stays this home's
		}
	}
	py := &probe.Interp{}
	if a, b, ok := strings.Cut(xy, "."); ok {
		py.Major, _ = strconv.Atoi(a)
		py.Minor, _ = strconv.Atoi(b)
	}
	return linker.Venv{Root: root, Python: py}
}

// dropOwned removes the paths an entry alone owns in a layer, tolerating
// what a crash can leave: paths already gone, and a link that was split into
// a real directory without the split being recorded.
func (w *Workspace) dropOwned(ctx context.Context, layer string, venv linker.Venv, entry string) error {
	links, err := w.Store.ExclusiveLinks(ctx, layer, entry)
	if err != nil {
		return err
	}
	var owned []linker.Owned
	for _, l := range links {
		abs := filepath.Join(venv.Root, filepath.FromSlash(l.Path))
		if !within(abs, venv.Root) {
			continue
		}
		if fi, err := os.Lstat(abs); err == nil && fi.IsDir() && linker.LinkKind(l.Kind) != linker.KindDir {
			shared, err := w.Store.LinksUnder(ctx, layer, l.Path, entry)
			if err != nil {
				return err
			}
			if shared {
				continue // other packages' links live in it: leave it
			}
			if err := os.RemoveAll(abs); err != nil { // links inside are removed, not followed
				return err
			}
		}
		owned = append(owned, linker.Owned{Path: l.Path, Kind: linker.LinkKind(l.Kind)})
	}
	return linker.Unlink(venv, owned)
}

// dropStoreLinks removes, of the paths only entry owns in layer, those that
// are still links into the store; anything else at those paths is no
// longer forge's.
func (w *Workspace) dropStoreLinks(ctx context.Context, layer string, venv linker.Venv, entry string) error {
	links, err := w.Store.ExclusiveLinks(ctx, layer, entry)
	if err != nil {
		return err
	}
	for _, l := range links {
		abs := filepath.Join(venv.Root, filepath.FromSlash(l.Path))
		if !within(abs, venv.Root) {
			continue
		}
		fi, err := os.Lstat(abs)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		if t, err := os.Readlink(abs); err == nil && w.intoStore(absTarget(abs, t)) {
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
func (w *Workspace) rollbackLink(ctx context.Context, m store.Manifest) error {
	venv := w.layerVenv(ctx, m.Layer)
	if err := w.dropOwned(ctx, m.Layer, venv, m.Entry); err != nil {
		return err
	}
	if en, err := w.Store.Get(ctx, m.Entry); err == nil {
		strays, err := w.strays(ctx, m.Layer, venv, en)
		if err != nil {
			return err
		}
		if err := removeStrays(venv, strays); err != nil {
			return err
		}
	}
	return w.Store.DropManifest(ctx, m.Layer, m.NormName)
}

// relink replaces a package's links in a layer: its paths are removed and
// made again as install makes them, with the same link mode and REQUESTED
// flag. The manifest row stays throughout, marked "relinking" first: that
// records the intent, so a crash at any point leaves the row (and the
// refcount) in place and the next doctor --fix relinks again, rather than
// reading a half-done relink as an uninstall or an install to roll back.
func (w *Workspace) relink(ctx context.Context, m store.Manifest) error {
	e, venv, err := w.layerTarget(ctx, m.Layer)
	if err != nil {
		return err
	}
	en, err := w.Store.Get(ctx, m.Entry)
	if err != nil {
		return err
	}
	if err := w.Store.SetManifestState(ctx, m.Layer, m.NormName, store.StateRelinking); err != nil {
		return err
	}
	if err := w.dropOwned(ctx, m.Layer, venv, m.Entry); err != nil {
		return err
	}
	// The paths' rows go with the paths: from here, strays finds what is
	// left of the entry from its own layout (a crash here is resumed so).
	if err := w.Store.ClearLinkRows(ctx, m.Layer, m.Entry); err != nil {
		return err
	}
	strays, err := w.strays(ctx, m.Layer, venv, en)
	if err != nil {
		return err
	}
	if err := removeStrays(venv, strays); err != nil {
		return err
	}
	res, err := linker.Link(w.linkPlan(ctx, m.Layer, venv, e, en, []*store.Entry{en}, linker.Mode(m.LinkMode), m.Requested))
	if err != nil {
		return fmt.Errorf("relinking %s in %s: %w", m.NormName, m.Layer, err)
	}
	d := store.Linked{Entry: en.SHA256}
	for _, o := range res.Owned {
		d.Links = append(d.Links, store.Link{Path: o.Path, Kind: string(o.Kind)})
	}
	for _, s := range res.Split {
		d.Splits = append(d.Splits, store.Split{Path: s.Path, Children: s.Children})
	}
	changed, err := w.Store.FinishLinks(ctx, m.Layer, []store.Linked{d})
	if err != nil {
		return err
	}
	for _, c := range changed {
		if err := w.rewriteRecord(ctx, m.Layer, venv, c); err != nil {
			return err
		}
	}
	return nil
}

func sameFileContent(a, b string) bool {
	x, err := os.ReadFile(a)
	if err != nil {
		return false
	}
	y, err := os.ReadFile(b)
	return err == nil && string(x) == string(y)
}
