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
	"strconv"
	"strings"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/internal/progress"
	"github.com/forge-ml/forge/linker"
	"github.com/forge-ml/forge/probe"
	"github.com/forge-ml/forge/store"
	"golang.org/x/sync/errgroup"
)

// Linking store entries into a layer and unlinking them: the second half
// of install, shared by uninstall, pip install, sync, rollback and doctor.

// linkEntry links one entry into a layer (see LinkEntries).
func (w *Workspace) linkEntry(ctx context.Context, layer string, venv linker.Venv, e *Env, en *store.Entry, mode linker.Mode, requested bool) (notes []string, already bool, err error) {
	outs, _, err := w.LinkEntries(ctx, layer, venv, e, []*store.Entry{en}, mode, requested, nil)
	if len(outs) == 1 {
		notes, already = outs[0].Notes, outs[0].Already
	}
	return notes, already, err
}

// LinkOutcome is what linking did for one entry.
type LinkOutcome struct {
	Notes   []string
	Already bool
	Linked  bool // in the layer and recorded, by this call or before it
}

// LinkEntries links entries into a layer, replacing other builds of the
// same projects. Manifest rows go in first, all in one transaction, as
// "linking"; they are marked "linked" (again in one transaction) only when
// every link of theirs exists. On an error, the entries linked so far stay
// linked and recorded, and the rest leave no row. pth reports whether a
// top-level .pth file appeared, so children's layering must be refreshed.
// The store views of fresh entries (by digest) are built first, in
// parallel, while the rows go in; linking itself is sequential.
func (w *Workspace) LinkEntries(ctx context.Context, layer string, venv linker.Venv, e *Env, ents []*store.Entry, mode linker.Mode, requested bool, fresh map[string]bool) (outs []LinkOutcome, pth bool, err error) {
	outs = make([]LinkOutcome, len(ents))
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
			if old.Entry == en.SHA256 && old.State == store.StateLinked && w.LinksPresent(ctx, layer, venv, old.Entry) {
				outs[i].Already, outs[i].Linked = true, true
				continue
			}
			if err := w.UnlinkManifest(ctx, layer, venv, old); err != nil {
				return outs, false, fmt.Errorf("%s %s: %w", en.Name, en.Version, err)
			}
			if old.Entry != en.SHA256 {
				outs[i].Notes = append(outs[i].Notes, w.replacedNote(ctx, old.Entry))
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
		outs[j.i].Notes = append(outs[j.i].Notes, res.Notes...)
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
			outs[j.i].Linked = true
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

// FindDistInfo is the name of the first *.dist-info directory in dir.
func FindDistInfo(dir string) (string, error) {
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

// UnlinkManifest removes a package from a layer: its exclusive paths, then
// its row (refcount follows in the same transaction).
func (w *Workspace) UnlinkManifest(ctx context.Context, layer string, venv linker.Venv, m store.Manifest) error {
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

// RefreshLayering rewrites the layer .pth files of every environment that
// sees the changed layer, so parents' own .pth files take effect in them.
func (w *Workspace) RefreshLayering(ctx context.Context, changed *Env, global bool) error {
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
			if err := linker.WriteLayers(child.Venv, w.LayerSites(child)); err != nil {
				if errors.Is(err, os.ErrNotExist) {
					continue // removed meanwhile (forge env rm holds its own lock, not ours)
				}
				return err
			}
		}
	}
	return nil
}

// LinksPresent reports whether every path the entry owns in the layer still
// exists (pip uninstall, or a user, may have removed them behind forge).
func (w *Workspace) LinksPresent(ctx context.Context, layer string, venv linker.Venv, entry string) bool {
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
	below = append(below, w.GlobalVenv(e.Py).SitePackages())
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

// Relink replaces a package's links in a layer: its paths are removed and
// made again as install makes them, with the same link mode and REQUESTED
// flag. The manifest row stays throughout, marked "relinking" first: that
// records the intent, so a crash at any point leaves the row (and the
// refcount) in place and the next doctor --fix relinks again, rather than
// reading a half-done relink as an uninstall or an install to roll back.
func (w *Workspace) Relink(ctx context.Context, m store.Manifest) error {
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
	if err := w.DropOwned(ctx, m.Layer, venv, m.Entry); err != nil {
		return err
	}
	// The paths' rows go with the paths: from here, strays finds what is
	// left of the entry from its own layout (a crash here is resumed so).
	if err := w.Store.ClearLinkRows(ctx, m.Layer, m.Entry); err != nil {
		return err
	}
	strays, err := w.Strays(ctx, m.Layer, venv, en)
	if err != nil {
		return err
	}
	if err := RemoveStrays(venv, strays); err != nil {
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

// layerTarget is what linkEntry needs for a layer: an Env (for launchers)
// and the layer's prefix.
func (w *Workspace) layerTarget(ctx context.Context, layer string) (*Env, linker.Venv, error) {
	if xy, ok := store.LayerKey(layer).XY(); ok {
		py, err := w.PythonXY(ctx, xy)
		if err != nil {
			return nil, linker.Venv{}, err
		}
		e := &Env{Py: py}
		return e, w.GlobalVenv(py), nil
	}
	e, err := w.OpenEnv(ctx, layer)
	if err != nil {
		return nil, linker.Venv{}, err
	}
	return e, e.Venv, nil
}

// LayerVenv is a layer's prefix good enough for removing paths: from its
// interpreter when it still runs, else from the recorded Python version.
func (w *Workspace) LayerVenv(ctx context.Context, layer string) linker.Venv {
	if _, v, err := w.layerTarget(ctx, layer); err == nil {
		return v
	}
	xy, global := store.LayerKey(layer).XY()
	root := filepath.Join(w.Home, "global", xy)
	if !global {
		root = filepath.Join(w.EnvsDir(), layer)
		if row, err := w.Store.GetEnv(ctx, layer); err == nil {
			xy = PyXY(row.PythonVersion) // the root stays this home's
		}
	}
	py := &probe.Interp{}
	if a, b, ok := strings.Cut(xy, "."); ok {
		py.Major, _ = strconv.Atoi(a)
		py.Minor, _ = strconv.Atoi(b)
	}
	return linker.Venv{Root: root, Python: py}
}

// DropOwned removes the paths an entry alone owns in a layer, tolerating
// what a crash can leave: paths already gone, and a link that was split into
// a real directory without the split being recorded.
func (w *Workspace) DropOwned(ctx context.Context, layer string, venv linker.Venv, entry string) error {
	links, err := w.Store.ExclusiveLinks(ctx, layer, entry)
	if err != nil {
		return err
	}
	var owned []linker.Owned
	for _, l := range links {
		abs := filepath.Join(venv.Root, filepath.FromSlash(l.Path))
		if !Within(abs, venv.Root) {
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

// PythonXY finds an interpreter of Python X.Y: an environment's, else one
// on this machine.
func (w *Workspace) PythonXY(ctx context.Context, xy string) (*probe.Interp, error) {
	envs, err := w.Store.ListEnvs(ctx)
	if err != nil {
		return nil, err
	}
	for _, e := range envs {
		if PyXY(e.PythonVersion) == xy {
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
