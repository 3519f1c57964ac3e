package main

import (
	"context"
	"fmt"
	"io"

	"github.com/forge-ml/forge/workspace/reproduce"
	"github.com/spf13/cobra"
)

func init() { register(newRollbackCmd) }

type rollbackOptions struct{ dryRun bool }

func newRollbackCmd(app *App) *cobra.Command {
	var o rollbackOptions
	cmd := &cobra.Command{
		Use:   "rollback ENV NAME",
		Short: "Restore an environment's own packages and settings from a snapshot",
		Long: `Restore an environment's own (LOCAL) layer and settings from a snapshot:
packages the snapshot lacks are unlinked, those it has are linked again from the
store, then its settings are written (auto_snapshots keeps its current value).

An automatic snapshot auto-rollback-TIME is taken first (the setting
auto_snapshots bounds how many are kept; 0 turns them off), so a rollback can
be undone with another. All or nothing: on an error the environment is put back
as it was; a crash leaves it for forge doctor, which reports
rollback_interrupted, and doctor --fix finishes it. A snapshot entry that is no
longer in the store is reported before anything changes (exit 1).
--dry-run prints what would be added, removed and kept.`,
		Example:           "  forge rollback app before-upgrade --dry-run\n  forge rollback app before-upgrade",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: completeEnvArgs(app, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRollback(cmd.Context(), app, reproduce.RollbackOptions{Env: args[0], Name: args[1], DryRun: o.dryRun})
		},
	}
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "print what would be added, removed and kept; change nothing")
	return cmd
}

func runRollback(ctx context.Context, app *App, o reproduce.RollbackOptions) error {
	ws, err := openWorkspace(app, "")
	if err != nil {
		return err
	}
	defer ws.Close()
	rep, err := reproduce.Rollback(ctx, ws, o)
	if err != nil {
		return err
	}
	return app.Print(rep, func(w io.Writer) { printRollback(w, rep) })
}

func printRollback(w io.Writer, rep *reproduce.RollbackReport) {
	add, remove := "added", "removed"
	if rep.DryRun {
		add, remove = "would add", "would remove"
	}
	for _, p := range rep.Remove {
		fmt.Fprintf(w, "%s %s %s\n", remove, p.Name, p.Version)
	}
	for _, p := range rep.Add {
		fmt.Fprintf(w, "%s %s %s\n", add, p.Name, p.Version)
	}
	for _, p := range rep.Keep {
		fmt.Fprintf(w, "keep %s %s\n", p.Name, p.Version)
	}
	for _, s := range rep.Settings {
		old, nw := s.OldVersion, s.NewVersion
		if old == "" {
			old = "(unset)"
		}
		if nw == "" {
			nw = "(unset)"
		}
		fmt.Fprintf(w, "%s: %s → %s\n", s.Name, old, nw)
	}
	switch {
	case len(rep.Add)+len(rep.Remove)+len(rep.Settings) == 0:
		fmt.Fprintf(w, "%s already matches snapshot %s\n", rep.Env, rep.Snapshot)
	case rep.DryRun:
		fmt.Fprintf(w, "dry run: %s not changed\n", rep.Env)
	default:
		fmt.Fprintf(w, "%s rolled back to snapshot %s\n", rep.Env, rep.Snapshot)
		if rep.AutoSnapshot != "" {
			fmt.Fprintf(w, "undo with: forge rollback %s %s\n", rep.Env, rep.AutoSnapshot)
		}
	}
}
