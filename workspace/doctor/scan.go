package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/forge-ml/forge/linker"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
)

// doctor's scan: what it reads and the issues it finds (see Doctor).

// scanState is what one scan loaded.
type scanState struct {
	rep       *Report
	entries   map[string]*store.Entry
	manifests map[[2]string]store.Manifest // (layer, entry)
	envs      map[string]*store.EnvRow
	roots     map[string]bool // layer root -> exists
	// staleBefore: temporary files older than this are leftovers.
	staleBefore time.Time
}

func (s *scanState) add(is Issue) {
	if is.fix != nil {
		is.Fixable, is.Fix = true, is.fix.Description
	}
	s.rep.Issues = append(s.rep.Issues, is)
	s.rep.IssuesByKind[is.Kind]++
}

func scan(ctx context.Context, w *workspace.Workspace, o Options) (*Report, error) {
	rep := &Report{Home: w.Home, Verified: o.Verify, IssuesByKind: map[string]int{},
		Issues: []Issue{}, Planned: []Fix{}, Applied: []Fix{}, Failed: []Fix{}, Remaining: []Issue{}}
	s := &scanState{rep: rep, entries: map[string]*store.Entry{}, manifests: map[[2]string]store.Manifest{}, envs: map[string]*store.EnvRow{}}
	now, staleAfter := time.Now, o.StaleAfter
	if o.Now != nil {
		now = o.Now
	}
	if staleAfter <= 0 {
		staleAfter = workspace.DefaultStaleAfter
	}
	s.staleBefore = now().Add(-staleAfter)

	envs, err := w.Store.ListEnvs(ctx)
	if err != nil {
		return nil, err
	}
	ents, err := w.Store.List(ctx)
	if err != nil {
		return nil, err
	}
	ms, err := w.Store.AllManifests(ctx)
	if err != nil {
		return nil, err
	}
	links, err := w.Store.AllLinks(ctx)
	if err != nil {
		return nil, err
	}
	rep.MetadataRowsScanned = len(envs) + len(ents) + len(ms) + len(links)
	for _, e := range envs {
		if own := filepath.Join(w.EnvsDir(), e.Name); filepath.Clean(e.Path) != own {
			// Nothing outside this home is read as, or repaired as, one of
			// its environments: the scan goes by where the environment
			// belongs (a re-rooting left undone, a row written by hand).
			s.add(Issue{Kind: KindEnvOutsideHome, Env: e.Name, Path: e.Path,
				Message: fmt.Sprintf("environment %s is recorded at %s, not at %s: forge acts only on the latter", e.Name, e.Path, own)})
			c := *e
			c.Path = own
			e = &c
		}
		s.envs[e.Name] = e
	}
	envs = make([]*store.EnvRow, 0, len(s.envs))
	for _, e := range s.envs {
		envs = append(envs, e)
	}
	sort.Slice(envs, func(i, j int) bool { return envs[i].Name < envs[j].Name })
	for _, e := range ents {
		s.entries[e.SHA256] = e
	}
	for _, m := range ms {
		s.manifests[[2]string{m.Layer, m.Entry}] = m
	}

	if err := scanEnvs(ctx, w, s, envs); err != nil {
		return nil, err
	}
	scanPip(w, s, envs)                              // pip.go
	if err := scanRollbacks(ctx, w, s); err != nil { // rollback.go
		return nil, err
	}
	scanFingerprints(w, s, ents) // fp.go
	if err := scanEntries(ctx, w, s, ents, ms, o.Verify); err != nil {
		return nil, err
	}
	if err := scanStaging(w, s, o); err != nil {
		return nil, err
	}
	if err := scanQuarantine(ctx, w, s); err != nil {
		return nil, err
	}
	scanManifests(w, s, ms)
	owned := scanLinks(ctx, w, s, links)
	if err := scanTrees(ctx, w, s, envs, owned); err != nil {
		return nil, err
	}
	s.accountFor(ctx, w)
	return rep, nil
}

func scanEnvs(ctx context.Context, w *workspace.Workspace, s *scanState, envs []*store.EnvRow) error {
	paths := map[string]bool{}
	children := map[string]int{}
	for _, e := range envs {
		if e.Parent != "" {
			children[e.Parent]++
		}
	}
	for _, e := range envs {
		s.rep.EnvsScanned++
		paths[filepath.Clean(e.Path)] = true
		if _, err := os.Lstat(e.Path); err == nil {
			// The interpreter: the environment's own link, and what it runs.
			if _, err := os.Stat(filepath.Join(e.Path, "bin", "python")); err != nil {
				s.add(Issue{Kind: KindEnvBroken, Env: e.Name, Path: filepath.Join(e.Path, "bin", "python"),
					Message: fmt.Sprintf("environment %s: its interpreter is gone (%s, recorded as %s): install Python %s again, or forge env rm --force %s and create it again",
						e.Name, filepath.Join(e.Path, "bin", "python"), e.Python, e.PythonVersion, e.Name)})
			}
			continue
		}
		is := Issue{Kind: KindEnvMissing, Env: e.Name, Path: e.Path, Message: fmt.Sprintf("environment %s: directory %s is missing", e.Name, e.Path)}
		if children[e.Name] == 0 {
			is.fix = &fixPlan{Fix: Fix{Action: "forget_env", Target: e.Name,
				Description: fmt.Sprintf("forget environment %s (drop its record and manifests; recreate it with forge create)", e.Name)}, env: e.Name}
		} else {
			is.Message += fmt.Sprintf(" and %d environment(s) layer on it", children[e.Name])
		}
		s.add(is)
	}
	dirs, err := os.ReadDir(w.EnvsDir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, d := range dirs {
		p := filepath.Join(w.EnvsDir(), d.Name())
		if strings.HasPrefix(d.Name(), ".") || paths[p] {
			continue // hidden: a create in progress, reported as staging when stale
		}
		if envPopulated(p) {
			s.add(Issue{Kind: KindUnrecordedEnv, Env: d.Name(), Path: p,
				Message: fmt.Sprintf("%s is not a recorded environment but holds packages or files: it is never removed", p)})
			continue
		}
		is := Issue{Kind: KindOrphanEnv, Env: d.Name(), Path: p, Message: fmt.Sprintf("%s is not a recorded environment", p)}
		if isForgeVenv(p) && workspace.ValidEnvName(d.Name()) == nil {
			name := d.Name()
			is.fix = &fixPlan{Fix: Fix{Action: "remove_orphan_env", Target: p,
				Description: fmt.Sprintf("remove %s (left by an interrupted forge create)", p)}, env: name, path: p}
		}
		s.add(is)
	}
	return nil
}

// isForgeVenv reports whether dir holds a virtual environment written by
// forge (its pyvenv.cfg says so).
func isForgeVenv(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "pyvenv.cfg"))
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, "=")
		if ok && strings.TrimSpace(k) == "forge" && strings.TrimSpace(v) == "true" {
			return true
		}
	}
	return false
}

func scanEntries(ctx context.Context, w *workspace.Workspace, s *scanState, ents []*store.Entry, ms []store.Manifest, verify bool) error {
	uses := map[string]int{}
	for _, m := range ms {
		uses[m.Entry]++
	}
	recount := &fixPlan{Fix: Fix{Action: "recount", Target: "entries", Description: "set every entry's refcount from the manifests"}}
	type result struct {
		entry *store.Entry
		check *store.EntryCheck
		err   error
	}
	var present []*store.Entry
	for _, e := range ents {
		s.rep.EntriesScanned++
		if uses[e.SHA256] != e.Refs {
			s.add(Issue{Kind: KindRefcount, Entry: e.SHA256, fix: recount,
				Message: fmt.Sprintf("%s %s (%s): refcount %d, but %d manifest(s) name it", e.Name, e.Version, workspace.Short(e.SHA256), e.Refs, uses[e.SHA256])})
		}
		if _, err := os.Lstat(w.Store.EntryDir(e.SHA256)); err != nil {
			is := Issue{Kind: KindEntryMissing, Entry: e.SHA256, Path: w.Store.EntryDir(e.SHA256),
				Message: fmt.Sprintf("%s %s (%s): store directory is missing", e.Name, e.Version, workspace.Short(e.SHA256))}
			if uses[e.SHA256] == 0 {
				is.fix = &fixPlan{Fix: Fix{Action: "drop_entry_row", Target: e.SHA256,
					Description: fmt.Sprintf("drop the row of %s %s (%s): unused, its directory is gone", e.Name, e.Version, workspace.Short(e.SHA256))}, entry: e.SHA256}
			} else {
				is.Message += fmt.Sprintf("; %d environment(s) use it: install %s again to restore it", uses[e.SHA256], e.Filename)
			}
			s.add(is)
			continue
		}
		present = append(present, e)
	}

	// Check (and with verify, hash) every present entry in parallel.
	results := make([]result, len(present))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.NumCPU())
	for i, e := range present {
		g.Go(func() error {
			c, err := w.Store.CheckEntry(gctx, e.SHA256, verify)
			if err != nil && gctx.Err() != nil {
				return gctx.Err()
			}
			results[i] = result{entry: e, check: c, err: err}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, r := range results {
		e := r.entry
		id := fmt.Sprintf("%s %s (%s)", e.Name, e.Version, workspace.Short(e.SHA256))
		if r.err != nil {
			s.add(Issue{Kind: KindEntryCorrupt, Entry: e.SHA256, Path: w.Store.EntryDir(e.SHA256), Message: r.err.Error(), fix: reingestPlan(ctx, w, e)})
			continue
		}
		c := r.check
		s.rep.FilesVerified += c.Hashed
		var fx *fixPlan
		hint := ""
		if c.Corrupt() {
			if fx = reingestPlan(ctx, w, e); fx == nil {
				hint = " (" + noWheel(e) + ")"
			}
		}
		for _, p := range c.Missing {
			s.add(Issue{Kind: KindStoreFileMissing, Entry: e.SHA256, Path: p, Message: fmt.Sprintf("%s: %s is listed in RECORD but missing from the store%s", id, p, hint), fix: fx})
		}
		for _, m := range c.Mismatch {
			s.add(Issue{Kind: KindHashMismatch, Entry: e.SHA256, Path: m.Path, Message: fmt.Sprintf("%s: %s: RECORD says %s, the store has %s%s", id, m.Path, m.Want, m.Got, hint), fix: fx})
		}
		for _, p := range c.Extra {
			s.add(Issue{Kind: KindStoreFileExtra, Entry: e.SHA256, Path: p, Message: fmt.Sprintf("%s: %s is in the store but not in RECORD%s", id, p, hint), fix: fx})
		}
		if len(c.Writable) > 0 {
			s.add(Issue{Kind: KindWritableStore, Entry: e.SHA256, Path: c.Writable[0],
				Message: fmt.Sprintf("%s: %d writable path(s) in the store, e.g. %s", id, len(c.Writable), c.Writable[0]),
				fix:     &fixPlan{Fix: Fix{Action: "seal_entry", Target: e.SHA256, Description: "make " + id + " read-only"}, entry: e.SHA256}})
		}
	}

	dirs, err := w.Store.EntryDirs()
	if err != nil {
		return err
	}
	var linked map[string]bool // only read when there is an orphan
	for _, d := range dirs {
		if _, ok := s.entries[d]; ok {
			continue
		}
		p := filepath.Join(w.Store.EntriesDir(), d)
		if linked == nil {
			linked = w.LinkedEntries()
		}
		if linked[d] || workspace.HardLinkedOut(p) {
			s.add(Issue{Kind: KindUnrecordedEntry, Entry: d, Path: p,
				Message: fmt.Sprintf("store directory %s has no row, but environments link into it: it is never removed", p)})
			continue
		}
		s.add(Issue{Kind: KindOrphanDir, Entry: d, Path: p,
			Message: fmt.Sprintf("store directory %s has no row (an ingest or gc was interrupted)", p),
			fix:     &fixPlan{Fix: Fix{Action: "remove_orphan_dir", Target: d, Description: "remove store directory " + workspace.Short(d) + " (ingesting its wheel again recreates it)"}, entry: d}})
	}
	views, err := w.Store.ViewDirs()
	if err != nil {
		return err
	}
	for _, d := range views {
		if _, ok := s.entries[d]; ok || slices.Contains(dirs, d) {
			continue // an orphan entry directory's fix removes its views too
		}
		if linked == nil {
			linked = w.LinkedEntries()
		}
		if linked[d] {
			s.add(Issue{Kind: KindUnrecordedEntry, Entry: d, Path: filepath.Join(w.Store.ViewsDir(), d),
				Message: fmt.Sprintf("shared layout %s has no entry row, but environments link into it: it is never removed", filepath.Join(w.Store.ViewsDir(), d))})
			continue
		}
		p := filepath.Join(w.Store.ViewsDir(), d)
		s.add(Issue{Kind: KindOrphanDir, Entry: d, Path: p,
			Message: fmt.Sprintf("shared layout %s has no entry row (a gc was interrupted)", p),
			fix:     &fixPlan{Fix: Fix{Action: "remove_orphan_dir", Target: d, Description: "remove the shared layout of " + workspace.Short(d)}, entry: d}})
	}
	return nil
}

func scanStaging(w *workspace.Workspace, s *scanState, o Options) error {
	items, err := w.StaleStaging(o.StaleAfter, o.Now)
	if err != nil {
		return err
	}
	for _, it := range items {
		s.add(Issue{Kind: KindStaleStaging, Path: it.Path,
			Message: fmt.Sprintf("%s is %s old: left by an interrupted ingest, gc or create", it.Path, it.Age.Round(time.Second)),
			fix:     &fixPlan{Fix: Fix{Action: "remove_staging", Target: it.Path, Description: "remove " + it.Path}, staging: it}})
	}
	return nil
}

func scanManifests(w *workspace.Workspace, s *scanState, ms []store.Manifest) {
	for _, m := range ms {
		_, isEnv := s.envs[m.Layer]
		_, hasEntry := s.entries[m.Entry]
		label := fmt.Sprintf("%s in %s", m.NormName, m.Layer)
		switch {
		case !hasEntry:
			s.add(Issue{Kind: KindStaleManifest, Env: m.Layer, Entry: m.Entry,
				Message: fmt.Sprintf("%s names entry %s, which has no row", label, workspace.Short(m.Entry)),
				fix:     &fixPlan{Fix: Fix{Action: "drop_manifest", Target: m.Layer + ":" + m.NormName, Description: "drop " + label + " (its entry is gone; install it again)"}, m: m}})
		case !isEnv && !store.LayerKey(m.Layer).IsGlobal():
			s.add(Issue{Kind: KindStaleManifest, Env: m.Layer, Entry: m.Entry,
				Message: fmt.Sprintf("%s: environment %s has no record", label, m.Layer),
				fix:     &fixPlan{Fix: Fix{Action: "drop_manifest", Target: m.Layer + ":" + m.NormName, Description: "drop " + label + " (its environment is gone)"}, m: m}})
		case m.State == store.StateRelinking:
			s.add(Issue{Kind: KindInterruptedLink, Env: m.Layer, Entry: m.Entry,
				Message: fmt.Sprintf("%s: a repair (relink) was interrupted (state %q)", label, m.State),
				fix:     &fixPlan{Fix: Fix{Action: "relink", Target: m.Layer + ":" + m.NormName, Description: fmt.Sprintf("relink %s in %s", m.NormName, m.Layer)}, m: m}})
		case m.State == store.StateUnlinking:
			s.add(Issue{Kind: KindInterruptedLink, Env: m.Layer, Entry: m.Entry,
				Message: fmt.Sprintf("%s: an uninstall was interrupted (state %q)", label, m.State),
				fix:     &fixPlan{Fix: Fix{Action: "finish_unlink", Target: m.Layer + ":" + m.NormName, Description: "finish uninstalling " + label}, m: m}})
		case m.State != store.StateLinked:
			s.add(Issue{Kind: KindInterruptedLink, Env: m.Layer, Entry: m.Entry,
				Message: fmt.Sprintf("%s: an install was interrupted (state %q)", label, m.State),
				fix: &fixPlan{Fix: Fix{Action: "rollback_link", Target: m.Layer + ":" + m.NormName,
					Description: "roll back the interrupted install of " + label + " (it is left uninstalled: run the install again)"}, m: m}})
		}
	}
}

// scanLinks checks every links row of a linked manifest and returns the
// absolute paths the rows name.
func scanLinks(ctx context.Context, w *workspace.Workspace, s *scanState, links []store.LayerLink) map[string]bool {
	owned := map[string]bool{}
	removed := scanPipRemoved(w, s, links)
	for _, l := range links {
		if removed[[2]string{l.Layer, l.Entry}] {
			owned[filepath.Join(layerRoot(w, s, l.Layer), filepath.FromSlash(l.Path))] = true
			s.rep.LinksScanned++
			continue // reported once, as pip_removed
		}
		s.rep.LinksScanned++
		root := layerRoot(w, s, l.Layer)
		abs := filepath.Join(root, filepath.FromSlash(l.Path))
		owned[abs] = true
		m, ok := s.manifests[[2]string{l.Layer, l.Entry}]
		if !ok {
			s.add(Issue{Kind: KindStaleLinkRow, Env: l.Layer, Entry: l.Entry, Path: l.Path,
				Message: fmt.Sprintf("%s: path recorded for entry %s, which is not installed there", l.Path, workspace.Short(l.Entry)),
				fix: &fixPlan{Fix: Fix{Action: "drop_link_rows", Target: l.Layer + ":" + l.Entry,
					Description: fmt.Sprintf("drop the path rows of entry %s in %s", workspace.Short(l.Entry), l.Layer)}, layer: l.Layer, entry: l.Entry}})
			continue
		}
		if m.State != store.StateLinked {
			continue // reported as interrupted_link
		}
		if _, isEnv := s.envs[l.Layer]; isEnv && !s.rootExists(root) {
			continue // reported as env_missing
		}
		kind, msg := checkLinkPath(w, l, abs, root, m)
		if kind == "" {
			continue
		}
		is := Issue{Kind: kind, Env: l.Layer, Entry: l.Entry, Path: l.Path, Message: msg}
		if _, ok := s.entries[l.Entry]; ok {
			if _, err := os.Lstat(w.Store.EntryDir(l.Entry)); err == nil {
				is.fix = &fixPlan{Fix: Fix{Action: "relink", Target: m.Layer + ":" + m.NormName,
					Description: fmt.Sprintf("relink %s in %s", m.NormName, m.Layer)}, m: m}
			}
		}
		forgetReplaced(&is, root, m) // replaced.go
		s.add(is)
	}
	return owned
}

// checkLinkPath returns the issue kind and message for one recorded path, or
// "" when it is sound.
func checkLinkPath(w *workspace.Workspace, l store.LayerLink, abs, root string, m store.Manifest) (string, string) {
	fi, err := os.Lstat(abs)
	if err != nil {
		return KindBrokenLink, fmt.Sprintf("%s of %s is missing", l.Path, m.NormName)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, _ := os.Readlink(abs)
		if !linkAllowed(w, abs, target, root) {
			return KindLinkOutsideStore, fmt.Sprintf("%s of %s points to %s, outside the store and the environment", l.Path, m.NormName, target)
		}
		if _, err := os.Stat(abs); err != nil {
			return KindBrokenLink, fmt.Sprintf("%s of %s points to %s, which does not exist", l.Path, m.NormName, target)
		}
	case fi.IsDir() && linker.LinkKind(l.Kind) == linker.KindLink && m.LinkMode == string(linker.Symlink):
		if _, err := os.Lstat(filepath.Join(abs, linker.SharedMarker)); err == nil {
			return KindBrokenLink, fmt.Sprintf("%s of %s was split into a shared directory that was never recorded", l.Path, m.NormName)
		}
		return KindBrokenLink, fmt.Sprintf("%s of %s should be a link but is a directory", l.Path, m.NormName)
	case linker.LinkKind(l.Kind) == linker.KindDir:
		if !fi.IsDir() {
			return KindBrokenLink, fmt.Sprintf("%s of %s should be a directory", l.Path, m.NormName)
		}
		kids, _ := os.ReadDir(abs)
		for _, k := range kids {
			p := filepath.Join(abs, k.Name())
			if k.Type()&fs.ModeSymlink == 0 {
				continue
			}
			if _, err := os.Stat(p); err != nil {
				t, _ := os.Readlink(p)
				return KindBrokenLink, fmt.Sprintf("%s/%s of %s points to %s, which does not exist", l.Path, k.Name(), m.NormName, t)
			}
		}
	}
	return "", ""
}

// linkAllowed: a link may point into the store, inside its own layer, or
// into another layer of this home (a bridge: linker.Bridge).
func linkAllowed(w *workspace.Workspace, abs, target, root string) bool {
	t := target
	if !filepath.IsAbs(t) {
		t = filepath.Join(filepath.Dir(abs), t)
	}
	t = filepath.Clean(t)
	return intoStore(w, t) || workspace.Within(t, root) || workspace.Within(t, filepath.Join(w.Home, "envs")) || workspace.Within(t, filepath.Join(w.Home, "global"))
}

// intoStore: a link target in an entry or in an entry's shared layout.
func intoStore(w *workspace.Workspace, t string) bool {
	return workspace.Within(t, w.Store.EntriesDir()) || workspace.Within(t, w.Store.ViewsDir())
}

// scanTrees walks every layer's site-packages and bin for links nobody
// recorded: into the store (a crash's leftover) or outside both the store
// and the environment.
func scanTrees(ctx context.Context, w *workspace.Workspace, s *scanState, envs []*store.EnvRow, owned map[string]bool) error {
	roots := map[string]string{} // root -> layer
	for _, e := range envs {
		roots[e.Path] = e.Name
	}
	globals, _ := filepath.Glob(filepath.Join(w.Home, "global", "*"))
	for _, g := range globals {
		roots[g] = workspace.GlobalLayer(filepath.Base(g))
	}
	ordered := make([]string, 0, len(roots))
	for r := range roots {
		ordered = append(ordered, r)
	}
	sort.Strings(ordered)
	for _, root := range ordered {
		layer := roots[root]
		if _, err := os.Lstat(root); err != nil {
			continue
		}
		sites, _ := filepath.Glob(filepath.Join(root, "lib", "python*", "site-packages"))
		for _, top := range append(sites, filepath.Join(root, "bin")) {
			err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return nil // unreadable or vanished: not ours to judge
				}
				if strings.HasSuffix(p, ".forge-split") && d.IsDir() && p != top {
					s.add(Issue{Kind: KindStrayLink, Env: layer, Path: workspace.Rel(root, p),
						Message: fmt.Sprintf("%s: a shared directory left half-made by an interrupted install", p),
						fix:     &fixPlan{Fix: Fix{Action: "remove_stray", Target: p, Description: "remove " + p}, path: p}})
					return filepath.SkipDir
				}
				if n := d.Name(); !d.IsDir() && !owned[p] && (strings.HasPrefix(n, ".forge-tmp-") || strings.HasSuffix(n, ".forge-tmp")) {
					// A file forge was writing (a .pth, RECORD or copy) when it
					// was interrupted; fresh ones may belong to a running forge.
					if fi, err := d.Info(); err == nil && fi.ModTime().Before(s.staleBefore) {
						s.add(Issue{Kind: KindStaleStaging, Env: layer, Path: workspace.Rel(root, p),
							Message: fmt.Sprintf("%s: a temporary file left by an interrupted forge", p),
							fix:     &fixPlan{Fix: Fix{Action: "remove_stray", Target: p, Description: "remove " + p}, path: p}})
					}
					return nil
				}
				if d.Type()&fs.ModeSymlink == 0 || owned[p] {
					return nil
				}
				s.rep.LinksScanned++
				target, err := os.Readlink(p)
				if err != nil {
					return nil
				}
				if filepath.Dir(p) == filepath.Join(root, "bin") && strings.HasPrefix(d.Name(), "python") {
					return nil // the environment's interpreter links
				}
				switch {
				case !linkAllowed(w, p, target, root):
					s.add(Issue{Kind: KindLinkOutsideStore, Env: layer, Path: workspace.Rel(root, p),
						Message: fmt.Sprintf("%s points to %s, outside the store and the environment (not made by forge)", p, target)})
				case intoStore(w, workspace.AbsTarget(p, target)) && !insideOwnedDir(w, p, owned, root) && installedHere(w, p, target, top, s):
					s.add(Issue{Kind: KindUnrecordedInstall, Env: layer, Entry: w.StoreTarget(workspace.AbsTarget(p, target)), Path: workspace.Rel(root, p),
						Message: fmt.Sprintf("%s points into the store (%s): its package is installed here (its .dist-info is present) but has no record; it is never removed", p, target)})
				case intoStore(w, workspace.AbsTarget(p, target)) && !insideOwnedDir(w, p, owned, root):
					s.add(Issue{Kind: KindStrayLink, Env: layer, Path: workspace.Rel(root, p),
						Message: fmt.Sprintf("%s points into the store (%s) but no installed package records it", p, target),
						fix:     &fixPlan{Fix: Fix{Action: "remove_stray", Target: p, Description: "remove " + p}, path: p}})
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// insideOwnedDir: links inside a recorded .dist-info directory (METADATA and
// friends) belong to it.
func insideOwnedDir(w *workspace.Workspace, p string, owned map[string]bool, root string) bool {
	for d := filepath.Dir(p); workspace.Within(d, root) && d != root; d = filepath.Dir(d) {
		if owned[d] {
			return true
		}
	}
	return false
}

func (s *scanState) rootExists(root string) bool {
	if s.roots == nil {
		s.roots = map[string]bool{}
	}
	v, ok := s.roots[root]
	if !ok {
		_, err := os.Lstat(root)
		v = err == nil
		s.roots[root] = v
	}
	return v
}

// layerRoot is the prefix of a layer: its environment's directory, or
// $FORGE_HOME/global/X.Y.
func layerRoot(w *workspace.Workspace, s *scanState, layer string) string {
	if xy, ok := store.LayerKey(layer).XY(); ok {
		return filepath.Join(w.Home, "global", xy)
	}
	if e, ok := s.envs[layer]; ok {
		return e.Path
	}
	return filepath.Join(w.EnvsDir(), layer)
}
