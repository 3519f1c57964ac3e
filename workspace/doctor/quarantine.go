package doctor

import (
	"context"
	"fmt"

	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
)

// KindQuarantined is an entry that failed verification (doctor --verify)
// and is not linked again until it is re-ingested from its wheel.
const KindQuarantined = "quarantined"

// quarantineFailed marks every entry with an integrity finding.
func quarantineFailed(ctx context.Context, w *workspace.Workspace, rep *Report) error {
	done := map[string]bool{}
	for _, is := range rep.Issues {
		if !IntegrityKind(is.Kind) || is.Entry == "" || done[is.Entry] {
			continue
		}
		done[is.Entry] = true
		if err := w.Store.Quarantine(ctx, is.Entry, is.Message); err != nil {
			return err
		}
	}
	return nil
}

// scanQuarantine reports the quarantined entries, with a re-ingest as the
// fix when forge knows a wheel file with the entry's digest.
func scanQuarantine(ctx context.Context, w *workspace.Workspace, s *scanState) error {
	q, err := w.Store.QuarantinedAll(ctx)
	if err != nil {
		return err
	}
	reported := map[string]bool{}
	for _, is := range s.rep.Issues {
		if IntegrityKind(is.Kind) {
			reported[is.Entry] = true
		}
	}
	for sha, reason := range q {
		e, ok := s.entries[sha]
		if !ok || reported[sha] {
			continue // collected since (nothing links it), or reported as found now
		}
		id := fmt.Sprintf("%s %s (%s)", e.Name, e.Version, workspace.Short(sha))
		is := Issue{Kind: KindQuarantined, Entry: sha, Path: w.Store.EntryDir(sha),
			Message: fmt.Sprintf("%s failed verification (%s): quarantined, no install links it", id, reason)}
		if is.fix = reingestPlan(ctx, w, e); is.fix == nil {
			is.Message += "; " + noWheel(e)
		}
		s.add(is)
	}
	return nil
}

// reingestPlan is the repair of a damaged entry when forge knows a wheel
// file with its digest, else nil.
func reingestPlan(ctx context.Context, w *workspace.Workspace, e *store.Entry) *fixPlan {
	wheel, err := w.Store.WheelFor(ctx, e.SHA256)
	if err != nil || wheel == "" {
		return nil
	}
	id := fmt.Sprintf("%s %s (%s)", e.Name, e.Version, workspace.Short(e.SHA256))
	return &fixPlan{Fix: Fix{Action: "reingest", Target: e.SHA256,
		Description: fmt.Sprintf("re-ingest %s from %s and relink the environments that use it", id, wheel)}, entry: e.SHA256, path: wheel}
}

func noWheel(e *store.Entry) string {
	return fmt.Sprintf("forge knows no wheel file for it: forge install %s (a wheel with sha256 %s) re-ingests it", e.Filename, e.SHA256)
}

// reingest replaces a quarantined entry from its wheel and relinks every
// layer that uses it (the caller holds those layers' locks).
func reingest(ctx context.Context, w *workspace.Workspace, sha, wheel string) error {
	if err := w.Store.Reingest(ctx, sha, wheel); err != nil {
		return err
	}
	ms, err := w.Store.AllManifests(ctx)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.Entry == sha && m.State == store.StateLinked {
			if err := w.Relink(ctx, m); err != nil {
				return err
			}
		}
	}
	return nil
}
