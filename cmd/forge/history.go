package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace/reproduce"
)

func init() { register(newHistoryCmd) }

func newHistoryCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "history ENV",
		Short: "List the operations that changed an environment, oldest first",
		Long: `List the operations that changed an environment (install, uninstall, pip
install, env set, snapshot, snapshot rm, rollback), oldest first: when it
started, the command, what it changed ("+numpy 2.1.0 -pandas 2.2.2
~torch 2.5.0→2.6.0") and how it ended: ok, failed (with its exit code), running,
or "did not finish" (its process was killed). The log is append-only; it goes
with its environment (forge env rm).`,
		Example:           "  forge history app\n  forge history app --json",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeEnvArgs(app, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHistory(cmd.Context(), app, args[0])
		},
	}
}

func runHistory(ctx context.Context, app *App, env string) error {
	ws, err := openWorkspace(app, "")
	if err != nil {
		return err
	}
	defer ws.Close()
	rep, err := reproduce.History(ctx, ws, env)
	if err != nil {
		return err
	}
	return app.Print(rep, func(w io.Writer) { printHistory(w, rep) })
}

func printHistory(w io.Writer, rep *reproduce.HistoryReport) {
	if len(rep.Operations) == 0 {
		fmt.Fprintf(w, "%s has no recorded operations\n", rep.Env)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STARTED\tCOMMAND\tCHANGES\tSTATUS")
	for _, op := range rep.Operations {
		changes := reproduce.HistorySummary(op.Changes)
		if changes == "" {
			changes = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", op.Started.Format("2006-01-02 15:04:05Z"), op.Command, changes, historyStatus(op))
	}
	tw.Flush()
}

func historyStatus(op store.HistoryEntry) string {
	switch {
	case op.Status == store.HistoryFailed && op.ExitCode != nil:
		return fmt.Sprintf("failed (exit %d)", *op.ExitCode)
	default:
		return strings.ReplaceAll(op.Status, "_", " ")
	}
}
