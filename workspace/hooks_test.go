package workspace

import "context"

// What the external tests of this directory (package workspace_test, which
// may import the command packages) reach inside: the fault points and the
// history journal's start.

// FaultPoint is the rollback's fault hook.
var FaultPoint = &faultPoint

// BeginHistory starts a history row as a command would, and leaves it
// unfinished.
func (w *Workspace) BeginHistory(ctx context.Context, env, command string, args []string) error {
	_, err := w.beginHistory(ctx, env, command, args)
	return err
}
