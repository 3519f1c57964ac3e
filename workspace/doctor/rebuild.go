package doctor

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/forge-ml/forge/linker"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
)

// RebuildReport is what Rebuild recovered.
type RebuildReport struct {
	Home     string   `json:"home"`
	Entries  []string `json:"entries"`  // digests whose rows were made
	Envs     []string `json:"envs"`     // environments recorded again
	Packages []string `json:"packages"` // "name version in layer", relinked and recorded
	// Problems are what could not be recovered, each saying why; nothing
	// is removed for them.
	Problems []string `json:"problems"`
	Doctor   *Report  `json:"doctor"` // a check of the rebuilt home
	// Rerooted is the home the layers named, when it was another (a copied
	// or moved home): their links and files were re-rooted here.
	Rerooted string `json:"rerooted,omitempty"`
}

// layersHome is the home the environments' layering names: the last path
// line of a _forge_layers.pth is HOME/global/X.Y/lib/pythonX.Y/site-packages.
// "" when no environment says.
func layersHome(w *workspace.Workspace) string {
	pths, _ := filepath.Glob(filepath.Join(w.EnvsDir(), "*", "lib", "python*", "site-packages", "_forge_layers.pth"))
	for _, p := range pths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		last := ""
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				last = l
			}
		}
		// .../global/X.Y/lib/pythonX.Y/site-packages: five names up is HOME.
		d := last
		for range 5 {
			d = filepath.Dir(d)
		}
		if filepath.IsAbs(last) && filepath.Base(filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(last))))) == "global" {
			return d
		}
	}
	return ""
}

// Rebuild makes the records of forge.db again from what is on disk, for a
// database that was emptied, replaced or rolled back. It only adds rows:
//   - an entry row for every store directory that has none (RecoverEntry:
//     checked against its RECORD, fingerprint computed again);
//   - an environment row for every forge environment under envs/ that has
//     none: its Python from pyvenv.cfg, its parent from the first line of
//     its _forge_layers.pth (settings set with forge env set are lost);
//   - a manifest row for every installed .dist-info in every layer (each
//     environment and GLOBAL) that links into, or is a copy of, an entry:
//     recorded "relinking" and then relinked as doctor --fix relinks, which
//     records its paths again. A crash part-way is resumed by doctor --fix
//     or by running Rebuild again.
//
// It holds the gc lock and every layer's lock, as doctor --fix does.
func Rebuild(ctx context.Context, w *workspace.Workspace) (*RebuildReport, error) {
	rep := &RebuildReport{Home: w.Home, Entries: []string{}, Envs: []string{}, Packages: []string{}, Problems: []string{}}
	unlock, err := lockForRebuild(ctx, w)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// A home copied or moved and then left without its database: the
	// layers still name the home they were made in, and nothing recorded
	// it. Re-root them first, so that their links lead into this store.
	if old := layersHome(w); old != "" && old != w.Home && !workspace.SameDir(old, w.Home) {
		if err := w.RerootLayers(old); err != nil {
			return rep, fmt.Errorf("re-rooting %s (from %s): %w", w.Home, old, err)
		}
		if _, err := w.Store.RetargetViews(old); err != nil {
			return rep, fmt.Errorf("re-rooting %s (from %s): %w", w.Home, old, err)
		}
		rep.Rerooted = old
	}
	dirs, err := w.Store.EntryDirs()
	if err != nil {
		return nil, err
	}
	for _, d := range dirs {
		if _, err := w.Store.Get(ctx, d); err == nil {
			continue
		}
		if _, err := w.Store.RecoverEntry(ctx, d); err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("store directory %s: %v (left in place)", d, err))
			continue
		}
		rep.Entries = append(rep.Entries, d)
	}
	if err := rebuildEnvs(ctx, w, rep); err != nil {
		return rep, err
	}
	ms, err := installedPackages(ctx, w, rep)
	if err != nil {
		return rep, err
	}
	if err := w.Store.RecordRelinking(ctx, ms); err != nil {
		return rep, err
	}
	// Every row still relinking, whether just recorded or left so before.
	all, err := w.Store.AllManifests(ctx)
	if err != nil {
		return rep, err
	}
	for _, m := range all {
		if m.State != store.StateRelinking {
			continue
		}
		label := m.NormName + " in " + m.Layer
		if en, err := w.Store.Get(ctx, m.Entry); err == nil {
			label = en.Name + " " + en.Version + " in " + m.Layer
		}
		if err := w.Relink(ctx, m); err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s: %v (recorded as relinking: forge doctor --fix tries again)", label, err))
			continue
		}
		rep.Packages = append(rep.Packages, label)
	}
	if _, err := w.Store.Recount(ctx); err != nil {
		return rep, err
	}
	rep.Doctor, err = scan(ctx, w, Options{})
	return rep, err
}

// lockForRebuild takes the gc lock, then the lock of every layer on disk
// (environment directories and GLOBAL prefixes) and recorded, in order.
func lockForRebuild(ctx context.Context, w *workspace.Workspace) (func(), error) {
	return lockGCAndLayers(ctx, w, func() (map[string]bool, error) {
		names := map[string]bool{}
		envDirs, _ := filepath.Glob(filepath.Join(w.EnvsDir(), "*"))
		for _, d := range envDirs {
			if workspace.ValidEnvName(filepath.Base(d)) == nil {
				names[filepath.Base(d)] = true
			}
		}
		globals, _ := filepath.Glob(filepath.Join(w.Home, "global", "*"))
		for _, g := range globals {
			names[workspace.GlobalLayer(filepath.Base(g))] = true
		}
		envs, err := w.Store.ListEnvs(ctx)
		if err != nil {
			return nil, err
		}
		for _, e := range envs {
			names[e.Name] = true
		}
		return names, nil
	})
}

// venvFacts is what an environment directory says of itself.
type venvFacts struct {
	name, root, parent, python, version string
}

func readVenv(w *workspace.Workspace, root string) (venvFacts, error) {
	f := venvFacts{name: filepath.Base(root), root: root}
	cfg, err := os.ReadFile(filepath.Join(root, "pyvenv.cfg"))
	if err != nil {
		return f, err
	}
	for _, l := range strings.Split(string(cfg), "\n") {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "executable":
			f.python = strings.TrimSpace(v)
		case "version":
			f.version = strings.TrimSpace(v)
		}
	}
	if f.python == "" || f.version == "" {
		return f, fmt.Errorf("pyvenv.cfg names no executable or version")
	}
	sites, _ := filepath.Glob(filepath.Join(root, "lib", "python*", "site-packages"))
	if len(sites) == 0 {
		return f, fmt.Errorf("no site-packages")
	}
	// The first path line of the layering is the nearest parent's
	// site-packages (ENVS/NAME/lib/pythonX.Y/site-packages), else GLOBAL's.
	if pth, err := os.Open(filepath.Join(sites[0], "_forge_layers.pth")); err == nil {
		sc := bufio.NewScanner(pth)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if r, err := filepath.Rel(w.EnvsDir(), line); err == nil && !strings.HasPrefix(r, "..") {
				f.parent, _, _ = strings.Cut(filepath.ToSlash(r), "/")
			}
			break
		}
		pth.Close()
	}
	return f, nil
}

// rebuildEnvs records the forge environments under envs/ that have no row,
// parents before children.
func rebuildEnvs(ctx context.Context, w *workspace.Workspace, rep *RebuildReport) error {
	dirs, _ := filepath.Glob(filepath.Join(w.EnvsDir(), "*"))
	todo := map[string]venvFacts{}
	for _, d := range dirs {
		name := filepath.Base(d)
		if workspace.ValidEnvName(name) != nil || !isForgeVenv(d) {
			continue
		}
		if _, err := w.Store.GetEnv(ctx, name); err == nil {
			continue
		}
		f, err := readVenv(w, d)
		if err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("environment %s: %v (left in place)", name, err))
			continue
		}
		todo[name] = f
	}
	var add func(name string, depth int) error
	add = func(name string, depth int) error {
		f, ok := todo[name]
		if !ok {
			return nil
		}
		delete(todo, name)
		if f.parent != "" {
			if depth > 64 {
				return fmt.Errorf("environment %s: parent cycle", name)
			}
			if err := add(f.parent, depth+1); err != nil {
				return err
			}
			if _, err := w.Store.GetEnv(ctx, f.parent); err != nil {
				rep.Problems = append(rep.Problems, fmt.Sprintf("environment %s: its parent %s is not a forge environment here: recorded without a parent", name, f.parent))
				f.parent = ""
			}
		}
		row := store.EnvRow{Name: name, Path: f.root, Parent: f.parent, Python: f.python, PythonVersion: f.version}
		if py, err := w.Interp(f.python); err == nil {
			row.Python, row.PythonVersion = py.Executable, py.Version
		}
		if err := w.Store.AddEnv(ctx, row); err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("environment %s: %v", name, err))
			return nil
		}
		rep.Envs = append(rep.Envs, name)
		return nil
	}
	names := make([]string, 0, len(todo))
	for n := range todo {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := add(n, 0); err != nil {
			return err
		}
	}
	return nil
}

// installedPackages finds, in every layer, the installed .dist-info
// directories of store entries that no manifest row records.
func installedPackages(ctx context.Context, w *workspace.Workspace, rep *RebuildReport) ([]store.Manifest, error) {
	layers := map[string]string{} // layer -> root
	envs, err := w.Store.ListEnvs(ctx)
	if err != nil {
		return nil, err
	}
	for _, e := range envs {
		layers[e.Name] = e.Path
	}
	globals, _ := filepath.Glob(filepath.Join(w.Home, "global", "*"))
	for _, g := range globals {
		layers[workspace.GlobalLayer(filepath.Base(g))] = g
	}
	ents, err := w.Store.List(ctx)
	if err != nil {
		return nil, err
	}
	byDistInfo := map[string][]*store.Entry{}
	for _, en := range ents {
		if di, err := workspace.FindDistInfo(w.Store.EntryDir(en.SHA256)); err == nil {
			byDistInfo[di] = append(byDistInfo[di], en)
		}
	}
	names := make([]string, 0, len(layers))
	for l := range layers {
		names = append(names, l)
	}
	sort.Strings(names)
	var out []store.Manifest
	for _, layer := range names {
		root := layers[layer]
		sites, _ := filepath.Glob(filepath.Join(root, "lib", "python*", "site-packages"))
		seen := map[string]bool{}
		for _, site := range sites {
			kids, err := os.ReadDir(site)
			if err != nil {
				continue
			}
			for _, k := range kids {
				if !strings.HasSuffix(k.Name(), ".dist-info") {
					continue
				}
				p := filepath.Join(site, k.Name())
				en, mode := entryOf(w, p, byDistInfo[k.Name()])
				if en == nil {
					continue // not forge's (pip's own install), or its entry is gone
				}
				if _, err := w.Store.ManifestFor(ctx, layer, en.NormName); err == nil || seen[en.NormName] {
					continue
				}
				seen[en.NormName] = true
				_, reqErr := os.Stat(filepath.Join(p, "REQUESTED"))
				out = append(out, store.Manifest{Layer: layer, NormName: en.NormName, Entry: en.SHA256, LinkMode: string(mode), Requested: reqErr == nil})
			}
		}
	}
	return out, nil
}

// entryOf finds the store entry an installed .dist-info at p belongs to,
// and the link mode it was installed with: a link into an entry's shared
// layout names it; a real directory is matched to the candidates (entries
// with a .dist-info of that name) by its METADATA: the same file
// (hardlink) or the same content (copy).
func entryOf(w *workspace.Workspace, p string, candidates []*store.Entry) (*store.Entry, linker.Mode) {
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, ""
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		t, err := os.Readlink(p)
		if err != nil {
			return nil, ""
		}
		sha := w.StoreTarget(workspace.AbsTarget(p, t))
		for _, c := range candidates {
			if c.SHA256 == sha {
				return c, linker.Symlink
			}
		}
		return nil, ""
	}
	meta := filepath.Join(p, "METADATA")
	for _, c := range candidates {
		src := filepath.Join(w.Store.EntryDir(c.SHA256), filepath.Base(p), "METADATA")
		a, errA := os.Lstat(meta)
		b, errB := os.Stat(src)
		if errA != nil || errB != nil {
			continue
		}
		switch {
		case a.Mode()&os.ModeSymlink != 0:
			if t, err := os.Readlink(meta); err == nil && w.StoreTarget(workspace.AbsTarget(meta, t)) == c.SHA256 {
				return c, linker.Symlink
			}
		case os.SameFile(a, b):
			return c, linker.Hardlink
		case workspace.SameFileContent(meta, src):
			return c, linker.Copy
		}
	}
	return nil, ""
}
