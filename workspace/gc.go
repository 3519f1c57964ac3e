package workspace

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
		lk, err := w.Store.LockGC(ctx, true, w.waiting("the store (an install or doctor is running)"))
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
		linked = w.linkedEntries()
	}
	for _, e := range ents {
		ge := GCEntry{Name: e.Name, Version: e.Version, SHA256: e.SHA256, Filename: e.Filename, Size: e.Size}
		if linked[e.SHA256] || hardLinkedOut(w.Store.EntryDir(e.SHA256)) {
			ge.Skipped = "environments link into it but no record says so: kept (forge doctor reports it)"
		}
		rep.Entries = append(rep.Entries, ge)
		rep.TotalBytes += e.Size
	}
	stale, err := w.staleStaging(o.StaleAfter, o.Now)
	if err != nil {
		return nil, err
	}
	if !o.Force {
		for _, s := range stale {
			rep.Staging = append(rep.Staging, s.path)
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
		w.logf("removed %s %s (%s, %s)", ge.Name, ge.Version, ge.SHA256[:12], HumanBytes(ge.Size))
	}
	for _, s := range stale {
		ok, err := s.remove(ctx)
		if err != nil {
			return rep, err
		}
		if ok {
			rep.Staging = append(rep.Staging, s.path)
		}
	}
	return rep, nil
}

// staleItem is a leftover of an interrupted ingest, gc or create.
type staleItem struct {
	path   string
	age    time.Duration
	remove func(ctx context.Context) (bool, error)
}

// staleStaging lists store/.staging items and half-created environment
// directories (envs/.NAME.creating-*) and environment directories of an
// interrupted env rm (envs/.NAME.removing-*) older than staleAfter.
func (w *Workspace) staleStaging(staleAfter time.Duration, now func() time.Time) ([]staleItem, error) {
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
	var out []staleItem
	for _, it := range items {
		if age := t.Sub(it.ModTime); age >= staleAfter {
			name := it.Name
			out = append(out, staleItem{path: it.Path, age: age, remove: func(ctx context.Context) (bool, error) {
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
			out = append(out, staleItem{path: p, age: age, remove: func(ctx context.Context) (bool, error) {
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
