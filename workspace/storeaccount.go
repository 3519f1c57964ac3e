package workspace

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// DefaultStaleAfter is how old a staging item must be before gc and doctor
// treat it as left behind by a crash. An ingest in progress also holds its
// lock, which is checked before anything is removed; the age only keeps the
// listing quiet about work that is under way.
const DefaultStaleAfter = 5 * time.Minute

// StaleItem is a leftover of an interrupted ingest, gc or create.
type StaleItem struct {
	Path   string
	Age    time.Duration
	Remove func(ctx context.Context) (bool, error)
}

// StaleStaging lists store/.staging items and half-created environment
// directories (envs/.NAME.creating-*) and environment directories of an
// interrupted env rm (envs/.NAME.removing-*) older than staleAfter.
func (w *Workspace) StaleStaging(staleAfter time.Duration, now func() time.Time) ([]StaleItem, error) {
	if staleAfter <= 0 {
		staleAfter = DefaultStaleAfter
	}
	if now == nil {
		now = time.Now
	}
	t := now()
	items, err := w.Store.StagingItems()
	if err != nil {
		return nil, err
	}
	var out []StaleItem
	for _, it := range items {
		if age := t.Sub(it.ModTime); age >= staleAfter {
			name := it.Name
			out = append(out, StaleItem{Path: it.Path, Age: age, Remove: func(ctx context.Context) (bool, error) {
				return w.Store.RemoveStaging(ctx, name)
			}})
		}
	}
	ents, err := os.ReadDir(w.EnvsDir())
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	for _, e := range ents {
		name := e.Name()
		marker := ".creating-"
		if strings.Contains(name, ".removing-") {
			marker = ".removing-" // env rm: renamed away, record dropped next
		}
		if !strings.HasPrefix(name, ".") || !strings.Contains(name, marker) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		env := strings.TrimPrefix(name[:strings.Index(name, marker)], ".")
		p := filepath.Join(w.EnvsDir(), name)
		if age := t.Sub(fi.ModTime()); age >= staleAfter {
			out = append(out, StaleItem{Path: p, Age: age, Remove: func(ctx context.Context) (bool, error) {
				// Create holds the environment's lock while it builds.
				lk, err := w.Store.TryLockEnv(env)
				if lk == nil || err != nil {
					return false, nil
				}
				defer lk.Unlock()
				if err := os.RemoveAll(p); err != nil {
					return false, err
				}
				return true, nil
			}})
		}
	}
	return out, nil
}

// HumanBytes formats a size for people: "12.3 MiB".
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// LinkedEntries returns the digests of the entries that links in any
// layer directory (recorded or not: envs/* and global/*) point into.
func (w *Workspace) LinkedEntries() map[string]bool {
	out := map[string]bool{}
	roots, _ := filepath.Glob(filepath.Join(w.EnvsDir(), "*"))
	globals, _ := filepath.Glob(filepath.Join(w.Home, "global", "*"))
	for _, root := range append(roots, globals...) {
		sites, _ := filepath.Glob(filepath.Join(root, "lib", "python*", "site-packages"))
		for _, top := range append(sites, filepath.Join(root, "bin")) {
			filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.Type()&fs.ModeSymlink == 0 {
					return nil
				}
				if t, err := os.Readlink(p); err == nil {
					if sha := w.StoreTarget(AbsTarget(p, t)); sha != "" {
						out[sha] = true
					}
				}
				return nil
			})
		}
	}
	return out
}

// HardLinkedOut reports whether a file of an entry directory, outside its
// .dist-info (whose files the shared layout hard-links), has another hard
// link: an environment installed with --link-mode hardlink uses it, which
// no symlink shows.
func HardLinkedOut(dir string) bool {
	found := false
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || found {
			found = true // unreadable: when in doubt, it is in use
			return filepath.SkipAll
		}
		if d.IsDir() && strings.HasSuffix(d.Name(), ".dist-info") {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
				found = true
				return filepath.SkipAll
			}
		}
		return nil
	})
	return found
}

// StoreTarget returns the entry digest a link target lies in (an entry or
// its shared layout), or "".
func (w *Workspace) StoreTarget(target string) string {
	for _, root := range []string{w.Store.EntriesDir(), w.Store.ViewsDir()} {
		if r, err := filepath.Rel(root, target); err == nil && r != "." && !strings.HasPrefix(r, "..") {
			sha, _, _ := strings.Cut(filepath.ToSlash(r), "/")
			return sha
		}
	}
	return ""
}

// AbsTarget is where a symlink at p that reads target points, cleaned.
func AbsTarget(p, target string) string {
	if filepath.IsAbs(target) {
		return filepath.Clean(target)
	}
	return filepath.Clean(filepath.Join(filepath.Dir(p), target))
}
