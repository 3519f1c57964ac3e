package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/forge-ml/forge/linker"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
)

// Issue kinds of what the metadata cannot account for. A row that is
// missing is not evidence that what it would have described is garbage: a
// database emptied, replaced by an older copy, or rolled back by a lost
// -wal file loses rows of environments and entries that are in use. So
// doctor tells a leftover of an interrupted command (an empty venv, an
// entry directory nothing links to) from something in use, and never
// removes the latter.
const (
	// KindUnrecordedEnv is an environment directory without a row that
	// holds installed packages or files of the user's.
	KindUnrecordedEnv = "unrecorded_env"
	// KindUnrecordedEntry is a store directory without a row that an
	// environment links into.
	KindUnrecordedEntry = "unrecorded_entry"
	// KindUnrecordedInstall is a package installed in a layer (its
	// .dist-info present, its links into the store) without a manifest row.
	KindUnrecordedInstall = "unrecorded_install"
	// KindMetadataLost summarises the above: forge.db does not describe this
	// home. doctor exits 4; --fix changes nothing; --rebuild is the repair.
	KindMetadataLost = "metadata_lost"
	// KindEnvBroken is a recorded environment whose interpreter is gone.
	KindEnvBroken = "env_broken"
	// KindEnvOutsideHome is an environment row naming a directory other
	// than HOME/envs/NAME; doctor goes by the latter.
	KindEnvOutsideHome = "env_outside_home"
)

// ErrMetadataLost is returned by Doctor with Fix when forge.db does not
// account for what is on disk: nothing was changed.
var ErrMetadataLost = fmt.Errorf("forge.db does not account for environments or store entries on disk (emptied, replaced or rolled back): nothing was changed; run forge doctor --rebuild: %w", store.ErrCorrupt)

// MetadataLost reports whether doctor found forge.db not describing the home.
func (r *Report) MetadataLost() bool { return r.IssuesByKind[KindMetadataLost] > 0 }

// venvSkeleton are the names CreateVenv writes at an environment's root.
var venvSkeleton = map[string]bool{"bin": true, "lib": true, "lib64": true, "include": true, "pyvenv.cfg": true, "var": true}

// envPopulated reports whether an environment directory holds more than
// an interrupted forge create leaves: anything beside the venv skeleton,
// in site-packages beside forge's own .pth files, or in bin beside the
// interpreter links and activate scripts. When in doubt (unreadable), it is.
func envPopulated(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist)
	}
	for _, e := range ents {
		if !venvSkeleton[e.Name()] {
			return true
		}
	}
	sites, _ := filepath.Glob(filepath.Join(dir, "lib", "python*", "site-packages"))
	for _, site := range sites {
		kids, err := os.ReadDir(site)
		if err != nil {
			return true
		}
		for _, k := range kids {
			if !strings.HasPrefix(k.Name(), "_forge_") {
				return true
			}
		}
	}
	bins, err := os.ReadDir(filepath.Join(dir, "bin"))
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist)
	}
	for _, b := range bins {
		if n := b.Name(); !slices.Contains(linker.ActivateScriptNames, n) && !strings.HasPrefix(n, "python") {
			return true
		}
	}
	return false
}

// accountFor adds the summary issue when anything on disk is in use but
// unrecorded. Doctor without --fix takes no lock: a command running
// meanwhile commits its rows before it makes what they describe (an
// install's manifest rows before its links, an ingest's row before anything
// links into its entry), so what the walk found may be recorded after the
// snapshot of the rows was read. Each finding is checked again against the
// rows as they are now, and only what is still unrecorded counts.
func (s *scanState) accountFor(ctx context.Context, w *workspace.Workspace) {
	kept := s.rep.Issues[:0]
	for _, is := range s.rep.Issues {
		if accountedNow(ctx, w, s, is) {
			s.rep.IssuesByKind[is.Kind]--
			if s.rep.IssuesByKind[is.Kind] == 0 {
				delete(s.rep.IssuesByKind, is.Kind)
			}
			continue
		}
		kept = append(kept, is)
	}
	s.rep.Issues = kept
	home := w.Home
	n := s.rep.IssuesByKind[KindUnrecordedEnv] + s.rep.IssuesByKind[KindUnrecordedEntry] + s.rep.IssuesByKind[KindUnrecordedInstall]
	if n == 0 {
		return
	}
	s.add(Issue{Kind: KindMetadataLost, Path: filepath.Join(home, "forge.db"),
		Message: fmt.Sprintf("forge.db does not account for %d environment(s), store entr(ies) or installed package(s) that are in use: "+
			"it was emptied, replaced by an older copy or rolled back (a lost forge.db-wal). doctor --fix removes nothing of it; "+
			"run 'forge doctor --rebuild' to rebuild the records from the store and the environments", n)})
}

// installedHere reports whether a link into the store that no row records
// belongs to a package whose installed .dist-info is in site (the layer's
// site-packages being walked): a complete installation the metadata lost,
// not the leftover of an interrupted command (those leave a manifest row
// in a "linking" or "unlinking" state, or no .dist-info).
func installedHere(w *workspace.Workspace, p, target, site string, s *scanState) bool {
	if !strings.HasSuffix(site, "site-packages") {
		return false
	}
	sha := w.StoreTarget(workspace.AbsTarget(p, target))
	if sha == "" {
		return false
	}
	for k := range s.manifests {
		if k[1] == sha && layerRoot(w, s, k[0]) != "" && workspace.Within(p, layerRoot(w, s, k[0])) {
			return false // recorded here, in some state: the fixes handle it
		}
	}
	di, err := workspace.FindDistInfo(w.Store.EntryDir(sha))
	if err != nil {
		return false
	}
	_, err = os.Lstat(filepath.Join(site, di))
	return err == nil
}

// accountedNow reports whether an unrecorded_* finding no longer stands:
// what it found has a row now, or is gone (an env rm, an uninstall or a gc
// that ran since the walk saw it, whose rows went first).
func accountedNow(ctx context.Context, w *workspace.Workspace, s *scanState, is Issue) bool {
	gone := func(p string) bool {
		_, err := os.Lstat(p)
		return errors.Is(err, fs.ErrNotExist)
	}
	switch is.Kind {
	case KindUnrecordedEnv:
		_, err := w.Store.GetEnv(ctx, is.Env)
		return err == nil || gone(is.Path) || !envPopulated(is.Path)
	case KindUnrecordedEntry:
		_, err := w.Store.Get(ctx, is.Entry)
		return err == nil || gone(is.Path)
	case KindUnrecordedInstall:
		ok, err := w.Store.HasManifest(ctx, is.Env, is.Entry)
		return err == nil && ok || gone(filepath.Join(layerRoot(w, s, is.Env), filepath.FromSlash(is.Path)))
	}
	return false
}
