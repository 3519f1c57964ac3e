package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/forge-ml/forge/workspace"
	"github.com/forge-ml/forge/workspace/gc"
)

func init() { register(newGCCmd) }

type gcOptions struct {
	dryRun bool
	force  bool
}

func newGCCmd(app *App) *cobra.Command {
	var o gcOptions
	cmd := &cobra.Command{
		Use:   "gc [--dry-run|--force]",
		Short: "List, or with --force remove, store entries no environment references",
		Long: `gc lists the store entries that no manifest references (refcount 0 and no
manifest row naming them), with their sizes and the total. With --force it
removes them, and stale staging leftovers, and reports the bytes freed.
Without either flag it is a dry run. --force waits for running installs: they
hold the store's gc lock from ingest until their packages are counted.`,
		Example: `  forge gc
  forge gc --force --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGC(cmd.Context(), app, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.dryRun, "dry-run", false, "only list what would be removed (the default)")
	f.BoolVar(&o.force, "force", false, "remove the unreferenced entries")
	return cmd
}

func runGC(ctx context.Context, app *App, o gcOptions) error {
	if o.dryRun && o.force {
		return usagef("--dry-run and --force exclude each other")
	}
	ws, err := openWorkspace(app, "")
	if err != nil {
		return err
	}
	defer ws.Close()
	rep, err := gc.Run(ctx, ws, gc.Options{Force: o.force})
	if rep == nil {
		return err
	}
	if perr := app.Print(rep, func(w io.Writer) { printGC(w, rep, !o.force && !o.dryRun) }); perr != nil {
		return perr
	}
	return reported(app, err)
}

func printGC(w io.Writer, rep *gc.Report, hint bool) {
	if len(rep.Entries) == 0 {
		fmt.Fprintln(w, "no unreferenced store entries")
	}
	if rep.DryRun && len(rep.Entries) > 0 {
		fmt.Fprintf(w, "unreferenced store entries (%d):\n", len(rep.Entries))
	}
	for _, e := range rep.Entries {
		state := ""
		switch {
		case rep.DryRun:
		case e.Removed:
			state = "removed  "
		default:
			state = "kept     "
		}
		fmt.Fprintf(w, "  %s%-30s %-12s %s %10s", state, e.Name, e.Version, e.SHA256[:12], workspace.HumanBytes(e.Size))
		if e.Skipped != "" {
			fmt.Fprintf(w, "  (%s)", e.Skipped)
		}
		fmt.Fprintln(w)
	}
	if rep.DryRun {
		if len(rep.Entries) > 0 {
			fmt.Fprintf(w, "total: %d entries, %s\n", len(rep.Entries), workspace.HumanBytes(rep.TotalBytes))
		}
		for _, s := range rep.Staging {
			fmt.Fprintf(w, "stale staging: %s\n", s)
		}
		if hint && (len(rep.Entries) > 0 || len(rep.Staging) > 0) {
			fmt.Fprintln(w, "dry run: nothing removed; run 'forge gc --force' to remove them")
		}
		return
	}
	for _, s := range rep.Staging {
		fmt.Fprintf(w, "removed stale staging: %s\n", s)
	}
	fmt.Fprintf(w, "freed %s (%d entries)\n", workspace.HumanBytes(rep.BytesFreed), rep.Removed)
}
