package doctor

import (
	"context"
	"fmt"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
)

// KindStaleFingerprint is a store entry fingerprinted by an older forge
// (abi.FingerprintSchema): its verdicts miss what newer readers find —
// device code outside .nv_fatbin (cuFFT's kernels), the sm_XYa flag,
// unknown fatbin kinds, a variant's claims. --fix computes the fingerprint
// again from the entry's files (they are not changed). Info: nothing is
// broken, the verdicts are only less true.
const KindStaleFingerprint = "stale_fingerprint"

const refingerprintAction = "refingerprint"

// scanFingerprints reports the entries whose fingerprint is of an older
// schema.
func scanFingerprints(w *workspace.Workspace, s *scanState, ents []*store.Entry) {
	for _, e := range ents {
		if e.Fingerprint.Schema >= abi.FingerprintSchema {
			continue
		}
		label := fmt.Sprintf("%s %s (entry %s)", e.Name, e.Version, e.SHA256[:12])
		s.add(Issue{Kind: KindStaleFingerprint, Entry: e.SHA256, Info: true,
			Message: fmt.Sprintf("%s was fingerprinted by an older forge (schema %d, now %d): its ABI verdicts may miss device code outside .nv_fatbin and arch-specific cubins",
				label, e.Fingerprint.Schema, abi.FingerprintSchema),
			fix: &fixPlan{Fix: Fix{Action: refingerprintAction, Target: e.SHA256,
				Description: "fingerprint " + label + " again from its files"}, entry: e.SHA256}})
	}
}

func refingerprint(ctx context.Context, w *workspace.Workspace, sha string) error {
	_, err := w.Store.Refingerprint(ctx, sha)
	return err
}
