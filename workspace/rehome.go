package workspace

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/forge-ml/forge/internal/atomicfile"
	"github.com/forge-ml/forge/linker"
	"github.com/forge-ml/forge/store"
)

// rehome re-roots a home that was copied or moved: everything forge wrote
// with an absolute path that names the home it was made in is made to name
// this one, so that the copy is an independent, working home and no
// command on it acts on the original. It runs on every open; the common
// case is one read of meta. What it rewrites:
//   - environment rows (store.SetHome; the commit, last, completes it);
//   - in every layer (envs/*, global/*): symlinks into the old home (links
//     into the store, split directories' links), and the text forge wrote
//     naming it: pyvenv.cfg, bin/activate and activate.fish, launchers' #! lines, and the
//     top-level .pth files of site-packages (layers, pycache, mirrors);
//   - the store's shared layouts (views/): their symlinks to entries.
//
// Files are replaced (written beside and renamed), never written through:
// a launcher or link hard-linked with the store changes only here. A crash
// part-way leaves the old home recorded, and the next open does it again
// (each step only touches what still names the old home).
func (w *Workspace) rehome(ctx context.Context) error {
	old, err := w.Store.RecordedHome(ctx)
	if err != nil {
		return err
	}
	if old == w.Home {
		return nil
	}
	if old != "" && SameDir(old, w.Home) {
		return nil // the same directory under another name: every path still works
	}
	if old == "" {
		// Nothing recorded and nothing to infer from: record this home,
		// best effort (a home this user cannot write is still readable).
		if err := w.Store.SetHome(ctx, "", w.Home); err != nil {
			w.Logf("note: could not record the home's path in forge.db: %v", err)
		}
		return nil
	}
	lk, err := w.Store.LockGC(ctx, true, w.Waiting("the store (re-rooting a copied or moved home)"))
	if err != nil {
		return err
	}
	defer lk.Unlock()
	if old, err = w.Store.RecordedHome(ctx); err != nil || old == w.Home {
		return err
	}
	if old == "" {
		return w.Store.SetHome(ctx, "", w.Home)
	}
	w.Logf("%s was copied or moved from %s: re-rooting its environments and links", w.Home, old)
	if err := w.RerootLayers(old); err != nil {
		return fmt.Errorf("re-rooting %s (from %s): %w", w.Home, old, err)
	}
	if _, err := w.Store.RetargetViews(old); err != nil {
		return fmt.Errorf("re-rooting %s (from %s): %w", w.Home, old, err)
	}
	return w.Store.SetHome(ctx, old, w.Home)
}

// SameDir reports whether a and b name the same existing directory (or
// file), whatever the path.
func SameDir(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// RerootLayers rewrites every layer directory of the home (see rehome).
func (w *Workspace) RerootLayers(old string) error {
	roots, _ := filepath.Glob(filepath.Join(w.EnvsDir(), "*"))
	globals, _ := filepath.Glob(filepath.Join(w.Home, "global", "*"))
	for _, root := range append(roots, globals...) {
		if strings.HasPrefix(filepath.Base(root), ".") {
			continue // staging of a create or rm: doctor's
		}
		if err := rerootTree(root, old, w.Home); err != nil {
			return err
		}
	}
	return nil
}

// rerootTree re-points a layer's links and rewrites its forge-written text
// files that name old.
func rerootTree(root, old, home string) error {
	sites, _ := filepath.Glob(filepath.Join(root, "lib", "python*", "site-packages"))
	siteSet := map[string]bool{}
	for _, s := range sites {
		siteSet[s] = true
	}
	bin := filepath.Join(root, "bin")
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // vanished or unreadable: not ours to judge
		}
		if d.Type()&fs.ModeSymlink != 0 {
			_, err := store.Retarget(p, old, home)
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		dir, name := filepath.Dir(p), d.Name()
		switch {
		case dir == root && name == "pyvenv.cfg",
			dir == bin,
			siteSet[dir] && strings.HasSuffix(name, ".pth"):
			return rewriteText(p, old, home, dir == bin && !slices.Contains(linker.ActivateScriptNames, name))
		}
		return nil
	})
}

// rewriteText replaces old+"/" by home+"/" in a forge-written text file
// (only in its #! line when shebangOnly: a launcher's body is not ours to
// read), by a new file renamed over it with the same mode.
func rewriteText(p, old, home string, shebangOnly bool) error {
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	from, to := []byte(old+string(filepath.Separator)), []byte(home+string(filepath.Separator))
	var out []byte
	if shebangOnly {
		if !bytes.HasPrefix(data, []byte("#!")) {
			return nil
		}
		line, rest, _ := bytes.Cut(data, []byte("\n"))
		if !bytes.Contains(line, from) {
			return nil
		}
		out = append(bytes.ReplaceAll(line, from, to), '\n')
		out = append(out, rest...)
		if !bytes.Contains(data, []byte("\n")) {
			out = out[:len(out)-1]
		}
	} else {
		if !bytes.Contains(data, from) {
			return nil
		}
		out = bytes.ReplaceAll(data, from, to)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	// BestEffort: rehome runs again over what a crash left (a file still
	// naming the old home is rewritten then).
	return atomicfile.Write(p, out, fi.Mode().Perm(), atomicfile.BestEffort)
}
