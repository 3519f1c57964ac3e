// Package gc is forge gc: it lists the store entries no environment links
// (Run) and, with Force, removes them and the leftovers of interrupted
// ingests and creates, under the store-wide lock installs share. What it
// counts as linked (LinkedEntries, HardLinkedOut) is workspace's, because
// doctor counts the same way.
package gc

import (
	"context"
	"time"

	"github.com/forge-ml/forge/workspace"
)

// Options are the inputs of Run.
type Options struct {
	// Force removes; otherwise GC only lists (a dry run).
	Force bool
	// StaleAfter is the age from which staging items are stale
	// (DefaultStaleAfter when zero).
	StaleAfter time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Entry is one unreferenced store entry.
type Entry struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	SHA256   string `json:"sha256"`
	Filename string `json:"filename"`
	Size     int64  `json:"size"` // unpacked bytes
	Removed  bool   `json:"removed"`
	// Skipped says why a listed entry was kept (referenced meanwhile).
	Skipped string `json:"skipped,omitempty"`
}

// Report is what Run found and did.
type Report struct {
	DryRun     bool    `json:"dry_run"`
	Entries    []Entry `json:"entries"`
	TotalBytes int64   `json:"total_bytes"` // of the listed entries
	Removed    int     `json:"removed"`
	BytesFreed int64   `json:"bytes_freed"`
	// Staging lists stale items under store/.staging (removed with Force).
	Staging []string `json:"staging"`
}

// Run lists the store entries no manifest references and, with Force,
// removes them and the stale staging items.
//
// With Force it holds the "gc" lock exclusively for the whole run. Install
// holds it shared from ingest to the manifest commit, so Run never collects an
// entry an install has ingested or chosen but not yet counted; each removal
// also re-checks refs and manifests in the transaction that deletes the row
// (see store.RemoveEntry for the order of row and directory). A dry run
// takes no lock: its list is a snapshot.
func Run(ctx context.Context, w *workspace.Workspace, o Options) (*Report, error) {
	rep := &Report{DryRun: !o.Force, Entries: []Entry{}, Staging: []string{}}
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
		ge := Entry{Name: e.Name, Version: e.Version, SHA256: e.SHA256, Filename: e.Filename, Size: e.Size}
		if linked[e.SHA256] || workspace.HardLinkedOut(w.Store.EntryDir(e.SHA256)) {
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
		w.Logf("removed %s %s (%s, %s)", ge.Name, ge.Version, ge.SHA256[:12], workspace.HumanBytes(ge.Size))
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
