package doctor

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
)

// Issue kinds reported by Run. They are part of forge's JSON contract.
const (
	KindEntryMissing     = "entry_missing"      // entry row whose directory is gone
	KindOrphanDir        = "orphan_dir"         // store directory without a row
	KindInterruptedLink  = "interrupted_link"   // manifest row left "linking" or "unlinking"
	KindBrokenLink       = "broken_link"        // a recorded path missing, or a link whose target is gone
	KindLinkOutsideStore = "link_outside_store" // a link leaving both the store and its environment
	KindStrayLink        = "stray_link"         // an unrecorded link into the store (a crash's leftover)
	KindRefcount         = "refcount"           // entries.refs differs from the manifests
	KindWritableStore    = "writable_store"     // store files or directories with a write bit
	KindStaleStaging     = "stale_staging"      // leftovers of interrupted ingests, gc or create
	KindEnvMissing       = "env_missing"        // environment row whose directory is gone
	KindOrphanEnv        = "orphan_env"         // environment directory without a row
	KindStaleManifest    = "stale_manifest"     // manifest row whose entry or environment is gone
	KindStaleLinkRow     = "stale_link_row"     // links row without a manifest row
	KindHashMismatch     = "hash_mismatch"      // store file content differs from RECORD (integrity)
	KindStoreFileMissing = "store_file_missing" // store file listed in RECORD is absent (integrity)
	KindStoreFileExtra   = "store_file_extra"   // store file RECORD does not list (integrity)
	KindEntryCorrupt     = "entry_corrupt"      // entry without a readable RECORD (integrity)
	// KindRollbackInterrupted: rollback.go.
)

// IntegrityKind reports whether an issue of this kind means store content no
// longer matches what was verified at ingest (exit 4; never fixed
// automatically: the wheel is needed to restore it).
func IntegrityKind(kind string) bool {
	switch kind {
	case KindHashMismatch, KindStoreFileMissing, KindStoreFileExtra, KindEntryCorrupt:
		return true
	}
	return false
}

// Options are the inputs of Run.
type Options struct {
	Fix    bool // apply the safe repairs
	DryRun bool // with Fix: plan them only
	// Verify re-hashes every store file against its entry's RECORD.
	Verify bool
	// StaleAfter is the age from which staging items count as stale
	// (DefaultStaleAfter when zero).
	StaleAfter time.Duration
	Now        func() time.Time
}

// Issue is one problem Doctor found.
type Issue struct {
	Kind    string `json:"kind"`
	Env     string `json:"env,omitempty"` // the environment or layer ("GLOBAL/3.12")
	Entry   string `json:"entry,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
	// Fixable says whether --fix has a safe repair; Fix names it.
	Fixable bool   `json:"fixable"`
	Fix     string `json:"fix,omitempty"`
	// Info marks a finding that is no fault (what the user did, such as
	// pip uninstall): it is reported, and --enforce does not count it.
	Info bool `json:"info,omitempty"`

	fix *fixPlan
}

// Fix is one repair, planned or applied.
type Fix struct {
	Action      string `json:"action"`
	Target      string `json:"target"`
	Description string `json:"description"`
	Error       string `json:"error,omitempty"`
}

// Report is what Run found and did.
type Report struct {
	Home                string         `json:"home"`
	Verified            bool           `json:"verified"`
	MetadataRowsScanned int            `json:"metadata_rows_scanned"`
	EnvsScanned         int            `json:"envs_scanned"`
	EntriesScanned      int            `json:"entries_scanned"`
	LinksScanned        int            `json:"links_scanned"`
	FilesVerified       int            `json:"files_verified"`
	IssuesByKind        map[string]int `json:"issues_by_kind"`
	Issues              []Issue        `json:"issues"`
	// Planned are the safe repairs for Issues (with --fix); Applied those
	// carried out, Failed those that went wrong (with the error).
	Planned []Fix `json:"planned"`
	Applied []Fix `json:"applied"`
	Failed  []Fix `json:"failed"`
	// Remaining are the issues left after the repairs (Issues without --fix
	// or with --dry-run).
	Remaining []Issue `json:"remaining"`
}

// Integrity reports whether a store file failed verification.
func (r *Report) Integrity() bool {
	for _, is := range r.Remaining {
		if IntegrityKind(is.Kind) {
			return true
		}
	}
	return false
}

// Clean reports whether no issue remains.
func (r *Report) Clean() bool {
	for _, is := range r.Remaining {
		if !is.Info {
			return false
		}
	}
	return true
}

// Run checks the metadata against the filesystem: store entries and
// their directories, refcounts against manifests, manifests and links
// against environments, staging leftovers, and (Verify) every store file
// against the RECORD it was verified with at ingest.
//
// With Fix it applies only repairs that lose nothing a later command could
// not recreate, under the "gc" lock (exclusive: no install is between ingest
// and its manifest commit) and every layer's lock, then checks again:
//   - interrupted install ("linking"): rolled back — the links it made, found
//     from the entry's own layout, and its row are removed; the package is
//     left uninstalled (the install did not complete; run it again);
//   - interrupted uninstall ("unlinking"): completed;
//   - broken or outside links owned by a package: the package is relinked
//     (its links and row removed, then linked again as at install);
//   - refcounts: recounted from the manifests;
//   - staging leftovers, orphan store directories, unrecorded links into the
//     store, half-created or unrecorded forge environments: removed;
//   - rows naming something gone (entry rows with refs 0, manifests of a
//     missing entry or environment, links rows without a manifest,
//     environments whose directory is gone and that have no children): dropped;
//   - writable store files: made read-only.
//
// Integrity failures (hash mismatch, missing or extra store files) mark the
// entry quarantined (with Verify): no install links it again until it is
// re-ingested from a wheel with its digest. --fix re-ingests it from the
// wheel file forge ingested it from when that is still there (and relinks
// the layers that use it); otherwise the report says which wheel to install.
func Run(ctx context.Context, w *workspace.Workspace, o Options) (*Report, error) {
	if o.Fix && !o.DryRun {
		unlock, err := lockAll(ctx, w)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	rep, err := scan(ctx, w, o)
	if err != nil {
		return nil, err
	}
	if o.Verify {
		// Marked even without --fix: what failed verification is never
		// linked again until re-ingested.
		if err := quarantineFailed(ctx, w, rep); err != nil {
			return nil, err
		}
	}
	rep.Remaining = rep.Issues
	if !o.Fix {
		return rep, nil
	}
	if rep.MetadataLost() {
		// Nothing is repaired from metadata that does not describe the
		// home: every "leftover" may be something in use.
		return rep, ErrMetadataLost
	}
	plans := planFixes(rep.Issues)
	for _, p := range plans {
		rep.Planned = append(rep.Planned, p.Fix)
	}
	if o.DryRun || len(plans) == 0 {
		return rep, nil
	}
	for _, p := range plans {
		f := p.Fix
		if err := p.apply(ctx, w); err != nil {
			f.Error = err.Error()
			rep.Failed = append(rep.Failed, f)
			w.Logf("fix failed: %s: %v", f.Description, err)
			continue
		}
		rep.Applied = append(rep.Applied, f)
		w.Logf("fixed: %s", f.Description)
	}
	// Check again; integrity findings need no second hashing pass: nothing
	// repairs them.
	after, err := scan(ctx, w, Options{StaleAfter: o.StaleAfter, Now: o.Now})
	if err != nil {
		return rep, err
	}
	rep.Remaining = after.Issues
	seen := map[[3]string]bool{}
	for _, is := range after.Issues {
		seen[[3]string{is.Kind, is.Entry, is.Path}] = true
	}
	reingested := map[string]bool{}
	for _, f := range rep.Applied {
		if f.Action == "reingest" {
			reingested[f.Target] = true
		}
	}
	for _, is := range rep.Issues {
		if IntegrityKind(is.Kind) && !seen[[3]string{is.Kind, is.Entry, is.Path}] && !reingested[is.Entry] {
			rep.Remaining = append(rep.Remaining, is)
		}
	}
	return rep, nil
}

// lockAll takes the gc lock exclusively and then every layer's lock, in the
// lock order (store/locks.go: gc, then layers), so that it cannot deadlock.
func lockAll(ctx context.Context, w *workspace.Workspace) (func(), error) {
	return lockGCAndLayers(ctx, w, func() (map[string]bool, error) {
		layers := map[string]bool{}
		envs, err := w.Store.ListEnvs(ctx)
		if err != nil {
			return nil, err
		}
		for _, e := range envs {
			layers[e.Name] = true
		}
		ms, err := w.Store.AllManifests(ctx)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			layers[m.Layer] = true
		}
		return layers, nil
	})
}

// lockGCAndLayers takes the gc lock exclusively, then, in sorted order, the
// lock of every layer that layers (called under the gc lock) names. The
// returned func releases them all, last taken first.
func lockGCAndLayers(ctx context.Context, w *workspace.Workspace, layers func() (map[string]bool, error)) (func(), error) {
	var locks []*store.Lock
	unlock := func() {
		for i := len(locks) - 1; i >= 0; i-- {
			locks[i].Unlock()
		}
	}
	gc, err := w.Store.LockGC(ctx, true, w.Waiting("the store (an install or gc is running)"))
	if err != nil {
		return nil, err
	}
	locks = append(locks, gc)
	set, err := layers()
	if err != nil {
		unlock()
		return nil, err
	}
	for _, l := range slices.Sorted(maps.Keys(set)) {
		lk, err := w.Store.LockLayer(ctx, store.LayerKey(l), w.Waiting("layer "+l))
		if err != nil {
			unlock()
			return nil, err
		}
		locks = append(locks, lk)
	}
	return unlock, nil
}
