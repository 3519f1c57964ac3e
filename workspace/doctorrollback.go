package workspace

import (
	"context"
	"fmt"
)

// KindRollbackInterrupted: a rollback recorded as begun that did not
// finish (killed, or its undo failed). Part of forge's JSON contract.
const KindRollbackInterrupted = "rollback_interrupted"

// finishRollbackAction is the doctor --fix repair of KindRollbackInterrupted.
const finishRollbackAction = "finish_rollback"

// scanRollbacks reports the interrupted rollbacks. Their repair runs after
// the layer's interrupted links are settled (fixOrder), so that it
// starts from rows that all say "linked".
func (w *Workspace) scanRollbacks(ctx context.Context, s *scanState) error {
	pending, err := w.Store.PendingRollbacks(ctx)
	if err != nil {
		return err
	}
	for _, p := range pending {
		s.add(Issue{Kind: KindRollbackInterrupted, Env: p.Env,
			Message: fmt.Sprintf("environment %s: a rollback to snapshot %s begun %s did not finish", p.Env, p.Snapshot, p.Started.Format("2006-01-02 15:04:05Z")),
			fix: &fixPlan{Fix: Fix{Action: finishRollbackAction, Target: p.Env + "@" + p.Snapshot,
				Description: fmt.Sprintf("finish rolling environment %s back to snapshot %s", p.Env, p.Snapshot)}, env: p.Env, path: p.Snapshot}})
	}
	return nil
}
