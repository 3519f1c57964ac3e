package doctor

import (
	"context"
	"fmt"

	"github.com/forge-ml/forge/workspace"
)

// KindRollbackInterrupted: a rollback recorded as begun that did not
// finish (killed, or its undo failed). Part of forge's JSON contract.
const KindRollbackInterrupted = "rollback_interrupted"

// FinishRollbackAction is the doctor --fix repair of KindRollbackInterrupted.
const FinishRollbackAction = "finish_rollback"

// scanRollbacks reports the interrupted rollbacks. Their repair runs after
// the layer's interrupted links are settled (fixOrder), so that it
// starts from rows that all say "linked".
func scanRollbacks(ctx context.Context, w *workspace.Workspace, s *scanState) error {
	pending, err := w.Store.PendingRollbacks(ctx)
	if err != nil {
		return err
	}
	for _, p := range pending {
		s.add(Issue{Kind: KindRollbackInterrupted, Env: p.Env,
			Message: fmt.Sprintf("environment %s: a rollback to snapshot %s begun %s did not finish", p.Env, p.Snapshot, p.Started.Format("2006-01-02 15:04:05Z")),
			fix: &fixPlan{Fix: Fix{Action: FinishRollbackAction, Target: p.Env + "@" + p.Snapshot,
				Description: fmt.Sprintf("finish rolling environment %s back to snapshot %s", p.Env, p.Snapshot)}, env: p.Env, path: p.Snapshot}})
	}
	return nil
}
