package workspace

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/forge-ml/forge/linker"
	"github.com/forge-ml/forge/probe"
	"github.com/forge-ml/forge/store"
)

// Issue kinds reported by Doctor. They are part of forge's JSON contract.
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
	// KindRollbackInterrupted: doctorrollback.go.
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

// DoctorOptions are the inputs of Doctor.
type DoctorOptions struct {
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

// DoctorReport is what Doctor found and did.
type DoctorReport struct {
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
func (r *DoctorReport) Integrity() bool {
	for _, is := range r.Remaining {
		if IntegrityKind(is.Kind) {
			return true
		}
	}
	return false
}

// Clean reports whether no issue remains.
func (r *DoctorReport) Clean() bool {
	for _, is := range r.Remaining {
		if !is.Info {
			return false
		}
	}
	return true
}

// Doctor checks the metadata against the filesystem: store entries and
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
func (w *Workspace) Doctor(ctx context.Context, o DoctorOptions) (*DoctorReport, error) {
	if o.Fix && !o.DryRun {
		unlock, err := w.lockAll(ctx)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	rep, err := w.scan(ctx, o)
	if err != nil {
		return nil, err
	}
	if o.Verify {
		// Marked even without --fix: what failed verification is never
		// linked again until re-ingested.
		if err := w.quarantineFailed(ctx, rep); err != nil {
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
			w.logf("fix failed: %s: %v", f.Description, err)
			continue
		}
		rep.Applied = append(rep.Applied, f)
		w.logf("fixed: %s", f.Description)
	}
	// Check again; integrity findings need no second hashing pass: nothing
	// repairs them.
	after, err := w.scan(ctx, DoctorOptions{StaleAfter: o.StaleAfter, Now: o.Now})
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
func (w *Workspace) lockAll(ctx context.Context) (func(), error) {
	return w.lockGCAndLayers(ctx, func() (map[string]bool, error) {
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
func (w *Workspace) lockGCAndLayers(ctx context.Context, layers func() (map[string]bool, error)) (func(), error) {
	var locks []*store.Lock
	unlock := func() {
		for i := len(locks) - 1; i >= 0; i-- {
			locks[i].Unlock()
		}
	}
	gc, err := w.Store.LockGC(ctx, true, w.waiting("the store (an install or gc is running)"))
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
		lk, err := w.Store.LockLayer(ctx, store.LayerKey(l), w.waiting("layer "+l))
		if err != nil {
			unlock()
			return nil, err
		}
		locks = append(locks, lk)
	}
	return unlock, nil
}

// scanState is what one scan loaded.
type scanState struct {
	rep       *DoctorReport
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

func (w *Workspace) scan(ctx context.Context, o DoctorOptions) (*DoctorReport, error) {
	rep := &DoctorReport{Home: w.Home, Verified: o.Verify, IssuesByKind: map[string]int{},
		Issues: []Issue{}, Planned: []Fix{}, Applied: []Fix{}, Failed: []Fix{}, Remaining: []Issue{}}
	s := &scanState{rep: rep, entries: map[string]*store.Entry{}, manifests: map[[2]string]store.Manifest{}, envs: map[string]*store.EnvRow{}}
	now, staleAfter := time.Now, o.StaleAfter
	if o.Now != nil {
		now = o.Now
	}
	if staleAfter <= 0 {
		staleAfter = DefaultStaleAfter
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

	if err := w.scanEnvs(ctx, s, envs); err != nil {
		return nil, err
	}
	w.scanPip(s, envs)                              // doctorpip.go
	if err := w.scanRollbacks(ctx, s); err != nil { // doctorrollback.go
		return nil, err
	}
	w.scanFingerprints(s, ents) // doctorfp.go
	if err := w.scanEntries(ctx, s, ents, ms, o.Verify); err != nil {
		return nil, err
	}
	if err := w.scanStaging(s, o); err != nil {
		return nil, err
	}
	if err := w.scanQuarantine(ctx, s); err != nil {
		return nil, err
	}
	w.scanManifests(s, ms)
	owned := w.scanLinks(ctx, s, links)
	if err := w.scanTrees(ctx, s, envs, owned); err != nil {
		return nil, err
	}
	s.accountFor(ctx, w)
	return rep, nil
}

func (w *Workspace) scanEnvs(ctx context.Context, s *scanState, envs []*store.EnvRow) error {
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
		if isForgeVenv(p) && ValidEnvName(d.Name()) == nil {
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

func (w *Workspace) scanEntries(ctx context.Context, s *scanState, ents []*store.Entry, ms []store.Manifest, verify bool) error {
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
				Message: fmt.Sprintf("%s %s (%s): refcount %d, but %d manifest(s) name it", e.Name, e.Version, short(e.SHA256), e.Refs, uses[e.SHA256])})
		}
		if _, err := os.Lstat(w.Store.EntryDir(e.SHA256)); err != nil {
			is := Issue{Kind: KindEntryMissing, Entry: e.SHA256, Path: w.Store.EntryDir(e.SHA256),
				Message: fmt.Sprintf("%s %s (%s): store directory is missing", e.Name, e.Version, short(e.SHA256))}
			if uses[e.SHA256] == 0 {
				is.fix = &fixPlan{Fix: Fix{Action: "drop_entry_row", Target: e.SHA256,
					Description: fmt.Sprintf("drop the row of %s %s (%s): unused, its directory is gone", e.Name, e.Version, short(e.SHA256))}, entry: e.SHA256}
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
		id := fmt.Sprintf("%s %s (%s)", e.Name, e.Version, short(e.SHA256))
		if r.err != nil {
			s.add(Issue{Kind: KindEntryCorrupt, Entry: e.SHA256, Path: w.Store.EntryDir(e.SHA256), Message: r.err.Error(), fix: w.reingestPlan(ctx, e)})
			continue
		}
		c := r.check
		s.rep.FilesVerified += c.Hashed
		var fx *fixPlan
		hint := ""
		if c.Corrupt() {
			if fx = w.reingestPlan(ctx, e); fx == nil {
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
			linked = w.linkedEntries()
		}
		if linked[d] || hardLinkedOut(p) {
			s.add(Issue{Kind: KindUnrecordedEntry, Entry: d, Path: p,
				Message: fmt.Sprintf("store directory %s has no row, but environments link into it: it is never removed", p)})
			continue
		}
		s.add(Issue{Kind: KindOrphanDir, Entry: d, Path: p,
			Message: fmt.Sprintf("store directory %s has no row (an ingest or gc was interrupted)", p),
			fix:     &fixPlan{Fix: Fix{Action: "remove_orphan_dir", Target: d, Description: "remove store directory " + short(d) + " (ingesting its wheel again recreates it)"}, entry: d}})
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
			linked = w.linkedEntries()
		}
		if linked[d] {
			s.add(Issue{Kind: KindUnrecordedEntry, Entry: d, Path: filepath.Join(w.Store.ViewsDir(), d),
				Message: fmt.Sprintf("shared layout %s has no entry row, but environments link into it: it is never removed", filepath.Join(w.Store.ViewsDir(), d))})
			continue
		}
		p := filepath.Join(w.Store.ViewsDir(), d)
		s.add(Issue{Kind: KindOrphanDir, Entry: d, Path: p,
			Message: fmt.Sprintf("shared layout %s has no entry row (a gc was interrupted)", p),
			fix:     &fixPlan{Fix: Fix{Action: "remove_orphan_dir", Target: d, Description: "remove the shared layout of " + short(d)}, entry: d}})
	}
	return nil
}

func (w *Workspace) scanStaging(s *scanState, o DoctorOptions) error {
	items, err := w.staleStaging(o.StaleAfter, o.Now)
	if err != nil {
		return err
	}
	for _, it := range items {
		s.add(Issue{Kind: KindStaleStaging, Path: it.path,
			Message: fmt.Sprintf("%s is %s old: left by an interrupted ingest, gc or create", it.path, it.age.Round(time.Second)),
			fix:     &fixPlan{Fix: Fix{Action: "remove_staging", Target: it.path, Description: "remove " + it.path}, staging: it}})
	}
	return nil
}

func (w *Workspace) scanManifests(s *scanState, ms []store.Manifest) {
	for _, m := range ms {
		_, isEnv := s.envs[m.Layer]
		_, hasEntry := s.entries[m.Entry]
		label := fmt.Sprintf("%s in %s", m.NormName, m.Layer)
		switch {
		case !hasEntry:
			s.add(Issue{Kind: KindStaleManifest, Env: m.Layer, Entry: m.Entry,
				Message: fmt.Sprintf("%s names entry %s, which has no row", label, short(m.Entry)),
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
func (w *Workspace) scanLinks(ctx context.Context, s *scanState, links []store.LayerLink) map[string]bool {
	owned := map[string]bool{}
	removed := w.scanPipRemoved(s, links)
	for _, l := range links {
		if removed[[2]string{l.Layer, l.Entry}] {
			owned[filepath.Join(w.layerRoot(s, l.Layer), filepath.FromSlash(l.Path))] = true
			s.rep.LinksScanned++
			continue // reported once, as pip_removed
		}
		s.rep.LinksScanned++
		root := w.layerRoot(s, l.Layer)
		abs := filepath.Join(root, filepath.FromSlash(l.Path))
		owned[abs] = true
		m, ok := s.manifests[[2]string{l.Layer, l.Entry}]
		if !ok {
			s.add(Issue{Kind: KindStaleLinkRow, Env: l.Layer, Entry: l.Entry, Path: l.Path,
				Message: fmt.Sprintf("%s: path recorded for entry %s, which is not installed there", l.Path, short(l.Entry)),
				fix: &fixPlan{Fix: Fix{Action: "drop_link_rows", Target: l.Layer + ":" + l.Entry,
					Description: fmt.Sprintf("drop the path rows of entry %s in %s", short(l.Entry), l.Layer)}, layer: l.Layer, entry: l.Entry}})
			continue
		}
		if m.State != store.StateLinked {
			continue // reported as interrupted_link
		}
		if _, isEnv := s.envs[l.Layer]; isEnv && !s.rootExists(root) {
			continue // reported as env_missing
		}
		kind, msg := w.checkLinkPath(l, abs, root, m)
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
		forgetReplaced(&is, root, m) // doctorreplaced.go
		s.add(is)
	}
	return owned
}

// checkLinkPath returns the issue kind and message for one recorded path, or
// "" when it is sound.
func (w *Workspace) checkLinkPath(l store.LayerLink, abs, root string, m store.Manifest) (string, string) {
	fi, err := os.Lstat(abs)
	if err != nil {
		return KindBrokenLink, fmt.Sprintf("%s of %s is missing", l.Path, m.NormName)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, _ := os.Readlink(abs)
		if !w.linkAllowed(abs, target, root) {
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
func (w *Workspace) linkAllowed(abs, target, root string) bool {
	t := target
	if !filepath.IsAbs(t) {
		t = filepath.Join(filepath.Dir(abs), t)
	}
	t = filepath.Clean(t)
	return w.intoStore(t) || within(t, root) || within(t, filepath.Join(w.Home, "envs")) || within(t, filepath.Join(w.Home, "global"))
}

// intoStore: a link target in an entry or in an entry's shared layout.
func (w *Workspace) intoStore(t string) bool {
	return within(t, w.Store.EntriesDir()) || within(t, w.Store.ViewsDir())
}

func within(p, root string) bool {
	r, err := filepath.Rel(root, p)
	return err == nil && r != ".." && !strings.HasPrefix(r, "../")
}

// scanTrees walks every layer's site-packages and bin for links nobody
// recorded: into the store (a crash's leftover) or outside both the store
// and the environment.
func (w *Workspace) scanTrees(ctx context.Context, s *scanState, envs []*store.EnvRow, owned map[string]bool) error {
	roots := map[string]string{} // root -> layer
	for _, e := range envs {
		roots[e.Path] = e.Name
	}
	globals, _ := filepath.Glob(filepath.Join(w.Home, "global", "*"))
	for _, g := range globals {
		roots[g] = GlobalLayer(filepath.Base(g))
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
					s.add(Issue{Kind: KindStrayLink, Env: layer, Path: rel(root, p),
						Message: fmt.Sprintf("%s: a shared directory left half-made by an interrupted install", p),
						fix:     &fixPlan{Fix: Fix{Action: "remove_stray", Target: p, Description: "remove " + p}, path: p}})
					return filepath.SkipDir
				}
				if n := d.Name(); !d.IsDir() && !owned[p] && (strings.HasPrefix(n, ".forge-tmp-") || strings.HasSuffix(n, ".forge-tmp")) {
					// A file forge was writing (a .pth, RECORD or copy) when it
					// was interrupted; fresh ones may belong to a running forge.
					if fi, err := d.Info(); err == nil && fi.ModTime().Before(s.staleBefore) {
						s.add(Issue{Kind: KindStaleStaging, Env: layer, Path: rel(root, p),
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
				case !w.linkAllowed(p, target, root):
					s.add(Issue{Kind: KindLinkOutsideStore, Env: layer, Path: rel(root, p),
						Message: fmt.Sprintf("%s points to %s, outside the store and the environment (not made by forge)", p, target)})
				case w.intoStore(absTarget(p, target)) && !w.insideOwnedDir(p, owned, root) && w.installedHere(p, target, top, s):
					s.add(Issue{Kind: KindUnrecordedInstall, Env: layer, Entry: w.storeTarget(absTarget(p, target)), Path: rel(root, p),
						Message: fmt.Sprintf("%s points into the store (%s): its package is installed here (its .dist-info is present) but has no record; it is never removed", p, target)})
				case w.intoStore(absTarget(p, target)) && !w.insideOwnedDir(p, owned, root):
					s.add(Issue{Kind: KindStrayLink, Env: layer, Path: rel(root, p),
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
func (w *Workspace) insideOwnedDir(p string, owned map[string]bool, root string) bool {
	for d := filepath.Dir(p); within(d, root) && d != root; d = filepath.Dir(d) {
		if owned[d] {
			return true
		}
	}
	return false
}

func absTarget(p, target string) string {
	if filepath.IsAbs(target) {
		return filepath.Clean(target)
	}
	return filepath.Clean(filepath.Join(filepath.Dir(p), target))
}

func rel(root, p string) string {
	r, err := filepath.Rel(root, p)
	if err != nil {
		return p
	}
	return filepath.ToSlash(r)
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
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
func (w *Workspace) layerRoot(s *scanState, layer string) string {
	if xy, ok := store.LayerKey(layer).XY(); ok {
		return filepath.Join(w.Home, "global", xy)
	}
	if e, ok := s.envs[layer]; ok {
		return e.Path
	}
	return filepath.Join(w.EnvsDir(), layer)
}

// fixPlan is one repair and what it needs.
type fixPlan struct {
	Fix
	m       store.Manifest
	env     string
	entry   string
	layer   string
	path    string
	staging staleItem
}

// order in which repairs run: leftovers first, then rows, then links (a
// rollback before a relink: it may free a path the relink needs), then
// permissions and counts.
var fixOrder = map[string]int{
	"remove_staging": 0, "remove_orphan_dir": 1, "remove_stray": 2, "drop_entry_row": 3, "forget_env": 4,
	"drop_manifest": 5, "forget_removed": 5, "drop_link_rows": 6, "rollback_link": 7, "finish_unlink": 8, "relink": 9,
	"reingest": 8, "seal_entry": 10, "remove_orphan_env": 11, "recount": 12,
	linkPipAction: 13, forgetReplacedAction: 8, // doctorpip.go, doctorreplaced.go
	refingerprintAction:  14, // doctorfp.go
	finishRollbackAction: 11, // doctorrollback.go: after the rows are settled
}

// planFixes dedupes the issues' repairs (many broken links, one relink) and
// orders them.
func planFixes(issues []Issue) []*fixPlan {
	seen := map[string]bool{}
	var out []*fixPlan
	for _, is := range issues {
		if is.fix == nil {
			continue
		}
		key := is.fix.Action + "\x00" + is.fix.Target
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, is.fix)
	}
	// A manifest rolled back or finished needs no relink.
	gone := map[string]bool{}
	for _, p := range out {
		if p.Action == "rollback_link" || p.Action == "finish_unlink" || p.Action == "drop_manifest" || p.Action == "forget_removed" {
			gone[p.Target] = true
		}
	}
	kept := out[:0]
	for _, p := range out {
		if p.Action == "relink" && gone[p.Target] {
			continue
		}
		kept = append(kept, p)
	}
	sort.SliceStable(kept, func(i, j int) bool { return fixOrder[kept[i].Action] < fixOrder[kept[j].Action] })
	return kept
}

func (p *fixPlan) apply(ctx context.Context, w *Workspace) error {
	switch p.Action {
	case "remove_staging":
		ok, err := p.staging.remove(ctx)
		if err == nil && !ok {
			return fmt.Errorf("in use by a running forge: left in place")
		}
		return err
	case "remove_orphan_dir":
		_, err := w.Store.RemoveOrphanDir(ctx, p.entry)
		return err
	case "remove_stray":
		return os.RemoveAll(p.path) // links are removed, never followed
	case "drop_entry_row":
		ok, err := w.Store.DropEntryRow(ctx, p.entry)
		if err == nil && !ok {
			return fmt.Errorf("entry %s is referenced again: left in place", short(p.entry))
		}
		return err
	case "forget_env":
		return w.Store.ForgetEnv(ctx, p.env)
	case "drop_manifest":
		venv := w.layerVenv(ctx, p.m.Layer)
		if err := w.dropOwned(ctx, p.m.Layer, venv, p.m.Entry); err != nil {
			return err
		}
		return w.Store.DropManifest(ctx, p.m.Layer, p.m.NormName)
	case "forget_removed":
		// What pip left of forge's links goes with the row; whatever now
		// stands at those paths is pip's (pip install -U replaces a
		// package's files in place) and stays. The entry stays in the store
		// for gc.
		venv := w.layerVenv(ctx, p.m.Layer)
		if err := w.dropStoreLinks(ctx, p.m.Layer, venv, p.m.Entry); err != nil {
			return err
		}
		return w.Store.DropManifest(ctx, p.m.Layer, p.m.NormName)
	case "drop_link_rows":
		return w.Store.DropLinkRows(ctx, p.layer, p.entry)
	case "rollback_link":
		return w.rollbackLink(ctx, p.m)
	case "finish_unlink":
		return w.finishUnlink(ctx, p.m)
	case "relink":
		return w.relink(ctx, p.m)
	case "reingest":
		return w.reingest(ctx, p.entry, p.path)
	case "seal_entry":
		_, err := w.Store.SealEntry(p.entry)
		return err
	case "remove_orphan_env":
		return w.removeOrphanEnv(ctx, p.env, p.path)
	case "recount":
		_, err := w.Store.Recount(ctx)
		return err
	case linkPipAction: // doctorpip.go
		return w.fixPip(ctx, p.env)
	case forgetReplacedAction: // doctorreplaced.go
		return w.Store.DropManifest(ctx, p.m.Layer, p.m.NormName)
	case refingerprintAction: // doctorfp.go
		return w.refingerprint(ctx, p.entry)
	case finishRollbackAction: // doctorrollback.go
		return w.finishRollback(ctx, p.env, p.path)
	}
	return fmt.Errorf("unknown fix %q", p.Action)
}

// finishUnlink completes an interrupted uninstall of m: its links go, then
// its row.
func (w *Workspace) finishUnlink(ctx context.Context, m store.Manifest) error {
	venv := w.layerVenv(ctx, m.Layer)
	if err := w.Store.SetManifestState(ctx, m.Layer, m.NormName, store.StateUnlinking); err != nil {
		return err
	}
	if err := w.dropOwned(ctx, m.Layer, venv, m.Entry); err != nil {
		return err
	}
	return w.Store.DropManifest(ctx, m.Layer, m.NormName)
}

// removeOrphanEnv removes the directory path of environment env, which has
// no record, unless a create holds its lock or has recorded it since.
func (w *Workspace) removeOrphanEnv(ctx context.Context, env, path string) error {
	lk, err := w.Store.TryLockEnv(env)
	if lk == nil || err != nil {
		return fmt.Errorf("environment %s is being created: left in place", env)
	}
	defer lk.Unlock()
	if _, err := w.Store.GetEnv(ctx, env); err == nil {
		return fmt.Errorf("environment %s is recorded now: left in place", env)
	}
	return os.RemoveAll(path)
}

// layerTarget is what linkEntry needs for a layer: an Env (for launchers)
// and the layer's prefix.
func (w *Workspace) layerTarget(ctx context.Context, layer string) (*Env, linker.Venv, error) {
	if xy, ok := store.LayerKey(layer).XY(); ok {
		py, err := w.pythonXY(ctx, xy)
		if err != nil {
			return nil, linker.Venv{}, err
		}
		e := &Env{Py: py}
		return e, w.globalVenv(py), nil
	}
	e, err := w.OpenEnv(ctx, layer)
	if err != nil {
		return nil, linker.Venv{}, err
	}
	return e, e.Venv, nil
}

// pythonXY finds an interpreter of Python X.Y: an environment's, else one
// on this machine.
func (w *Workspace) pythonXY(ctx context.Context, xy string) (*probe.Interp, error) {
	envs, err := w.Store.ListEnvs(ctx)
	if err != nil {
		return nil, err
	}
	for _, e := range envs {
		if pyXY(e.PythonVersion) == xy {
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

func pyXY(version string) string {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return version
	}
	return parts[0] + "." + parts[1]
}

// layerVenv is a layer's prefix good enough for removing paths: from its
// interpreter when it still runs, else from the recorded Python version.
func (w *Workspace) layerVenv(ctx context.Context, layer string) linker.Venv {
	if _, v, err := w.layerTarget(ctx, layer); err == nil {
		return v
	}
	xy, global := store.LayerKey(layer).XY()
	root := filepath.Join(w.Home, "global", xy)
	if !global {
		root = filepath.Join(w.EnvsDir(), layer)
		if row, err := w.Store.GetEnv(ctx, layer); err == nil {
			xy = pyXY(row.PythonVersion) // the root stays this home's
		}
	}
	py := &probe.Interp{}
	if a, b, ok := strings.Cut(xy, "."); ok {
		py.Major, _ = strconv.Atoi(a)
		py.Minor, _ = strconv.Atoi(b)
	}
	return linker.Venv{Root: root, Python: py}
}

// dropOwned removes the paths an entry alone owns in a layer, tolerating
// what a crash can leave: paths already gone, and a link that was split into
// a real directory without the split being recorded.
func (w *Workspace) dropOwned(ctx context.Context, layer string, venv linker.Venv, entry string) error {
	links, err := w.Store.ExclusiveLinks(ctx, layer, entry)
	if err != nil {
		return err
	}
	var owned []linker.Owned
	for _, l := range links {
		abs := filepath.Join(venv.Root, filepath.FromSlash(l.Path))
		if !within(abs, venv.Root) {
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

// dropStoreLinks removes, of the paths only entry owns in layer, those that
// are still links into the store; anything else at those paths is no
// longer forge's.
func (w *Workspace) dropStoreLinks(ctx context.Context, layer string, venv linker.Venv, entry string) error {
	links, err := w.Store.ExclusiveLinks(ctx, layer, entry)
	if err != nil {
		return err
	}
	for _, l := range links {
		abs := filepath.Join(venv.Root, filepath.FromSlash(l.Path))
		if !within(abs, venv.Root) {
			continue
		}
		fi, err := os.Lstat(abs)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		if t, err := os.Readlink(abs); err == nil && w.intoStore(absTarget(abs, t)) {
			if err := os.Remove(abs); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// rollbackLink undoes an install interrupted between its manifest row and
// its commit: the links it made were never recorded, so they are found from
// the entry's own layout (what linker.Link would create) and removed when no
// recorded package owns them; then the row goes and the refcount follows.
func (w *Workspace) rollbackLink(ctx context.Context, m store.Manifest) error {
	venv := w.layerVenv(ctx, m.Layer)
	if err := w.dropOwned(ctx, m.Layer, venv, m.Entry); err != nil {
		return err
	}
	if en, err := w.Store.Get(ctx, m.Entry); err == nil {
		strays, err := w.strays(ctx, m.Layer, venv, en)
		if err != nil {
			return err
		}
		if err := removeStrays(venv, strays); err != nil {
			return err
		}
	}
	return w.Store.DropManifest(ctx, m.Layer, m.NormName)
}

// relink replaces a package's links in a layer: its paths are removed and
// made again as install makes them, with the same link mode and REQUESTED
// flag. The manifest row stays throughout, marked "relinking" first: that
// records the intent, so a crash at any point leaves the row (and the
// refcount) in place and the next doctor --fix relinks again, rather than
// reading a half-done relink as an uninstall or an install to roll back.
func (w *Workspace) relink(ctx context.Context, m store.Manifest) error {
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
	if err := w.dropOwned(ctx, m.Layer, venv, m.Entry); err != nil {
		return err
	}
	// The paths' rows go with the paths: from here, strays finds what is
	// left of the entry from its own layout (a crash here is resumed so).
	if err := w.Store.ClearLinkRows(ctx, m.Layer, m.Entry); err != nil {
		return err
	}
	strays, err := w.strays(ctx, m.Layer, venv, en)
	if err != nil {
		return err
	}
	if err := removeStrays(venv, strays); err != nil {
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

func sameFileContent(a, b string) bool {
	x, err := os.ReadFile(a)
	if err != nil {
		return false
	}
	y, err := os.ReadFile(b)
	return err == nil && string(x) == string(y)
}
