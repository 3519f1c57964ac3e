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

// GCOptions are the inputs of GC.
type GCOptions struct {
	// Force removes; otherwise GC only lists (a dry run).
	Force bool
	// StaleAfter is the age from which staging items are stale
	// (DefaultStaleAfter when zero).
	StaleAfter time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// GCEntry is one unreferenced store entry.
type GCEntry struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	SHA256   string `json:"sha256"`
	Filename string `json:"filename"`
	Size     int64  `json:"size"` // unpacked bytes
	Removed  bool   `json:"removed"`
	// Skipped says why a listed entry was kept (referenced meanwhile).
	Skipped string `json:"skipped,omitempty"`
}

// GCReport is what GC found and did.
type GCReport struct {
	DryRun     bool      `json:"dry_run"`
	Entries    []GCEntry `json:"entries"`
	TotalBytes int64     `json:"total_bytes"` // of the listed entries
	Removed    int       `json:"removed"`
	BytesFreed int64     `json:"bytes_freed"`
	// Staging lists stale items under store/.staging (removed with Force).
	Staging []string `json:"staging"`
}

// GC lists the store entries no manifest references and, with Force,
// removes them and the stale staging items.
//
// With Force it holds the "gc" lock exclusively for the whole run. Install
// holds it shared from ingest to the manifest commit, so GC never collects an
// entry an install has ingested or chosen but not yet counted; each removal
// also re-checks refs and manifests in the transaction that deletes the row
// (see store.RemoveEntry for the order of row and directory). A dry run
// takes no lock: its list is a snapshot.
func (w *Workspace) GC(ctx context.Context, o GCOptions) (*GCReport, error) {
	rep := &GCReport{DryRun: !o.Force, Entries: []GCEntry{}, Staging: []string{}}
	if o.Force {
		lk, err := w.Store.LockGC(ctx, true, w.Waiting("the store (an install or doctor is running)"))
		if err != nil {
			return nil, err
		}
		defer lk.Unlock()
	}
	ents, err := w.Store.Unreferenced(ctx)
	if err != nil {
		return nil, err
	}
	// An entry no manifest counts but that an environment links into (a
	// symlink, or a hard link of one of its files) is in use: its rows were
	// lost (a rolled-back forge.db), and removing it would break the
	// environment or lose what --rebuild needs to record it again. One walk
	// of the layers' trees, only when there is something to collect.
	var linked map[string]bool
	if len(ents) > 0 {
		linked = w.LinkedEntries()
	}
	for _, e := range ents {
		ge := GCEntry{Name: e.Name, Version: e.Version, SHA256: e.SHA256, Filename: e.Filename, Size: e.Size}
		if linked[e.SHA256] || HardLinkedOut(w.Store.EntryDir(e.SHA256)) {
			ge.Skipped = "environments link into it but no record says so: kept (forge doctor reports it)"
		}
		rep.Entries = append(rep.Entries, ge)
		rep.TotalBytes += e.Size
	}
	stale, err := w.StaleStaging(o.StaleAfter, o.Now)
	if err != nil {
		return nil, err
	}
	if !o.Force {
		for _, s := range stale {
			rep.Staging = append(rep.Staging, s.Path)
		}
		return rep, nil
	}
	for i := range rep.Entries {
		ge := &rep.Entries[i]
		if ge.Skipped != "" {
			continue
		}
		ok, err := w.Store.RemoveEntry(ctx, ge.SHA256)
		if err != nil {
			return rep, err
		}
		if !ok {
			ge.Skipped = "referenced by a manifest since it was listed"
			continue
		}
		ge.Removed = true
		rep.Removed++
		rep.BytesFreed += ge.Size
		w.Logf("removed %s %s (%s, %s)", ge.Name, ge.Version, ge.SHA256[:12], HumanBytes(ge.Size))
	}
	for _, s := range stale {
		ok, err := s.Remove(ctx)
		if err != nil {
			return rep, err
		}
		if ok {
			rep.Staging = append(rep.Staging, s.Path)
		}
	}
	return rep, nil
}

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

func AbsTarget(p, target string) string {
	if filepath.IsAbs(target) {
		return filepath.Clean(target)
	}
	return filepath.Clean(filepath.Join(filepath.Dir(p), target))
}
