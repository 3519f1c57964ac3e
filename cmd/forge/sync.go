package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/workspace/reproduce"
)

func init() { register(newSyncCmd) }

type syncOptions struct {
	env       string
	dryRun    bool
	policy    string
	findLinks string
}

func newSyncCmd(app *App) *cobra.Command {
	var o syncOptions
	cmd := &cobra.Command{
		Use:   "sync FILE --env ENV [--dry-run] [--abi-policy P] [--find-links DIR]",
		Short: "Make an environment's own layer exactly a PEP 751 pylock.toml",
		Long: `sync makes the environment's own (LOCAL) layer exactly what a PEP 751 lock
file (pylock.toml, lock-version 1.x, written by forge lock, pip lock, uv or
any other tool) installs for the environment's interpreter: every package
whose marker holds, with its best wheel for the interpreter's tags. Parents
and GLOBAL are not changed; a locked wheel a layer below already provides
is kept there. Packages LOCAL holds that the lock does not list are
removed, except pip when the lock does not name pip.

A wheel whose sha256 is in the store is linked without pip or network.
Others are fetched: from the lock's path (relative to the lock file's
directory) or file: URL, from --find-links DIR by file name, else with the
environment's pip (pip download --no-deps: an http(s) URL, or with
--find-links, name==version with --no-index). Every fetched file must have
the locked sha256 and size (exit 4 otherwise). Every wheel is then checked
against this host under --abi-policy (default: the environment's
abi_policy); a refusal is exit 3. Only then does the environment change; if
linking fails midway, what the sync changed is undone.

--dry-run prints the plan (add, remove, keep, with versions, and what must
be fetched) and changes nothing.

Exit codes: 2 for a file that is not a usable lock (not TOML, truncated, a
package listed twice, lock-version 2) or a URL forge cannot fetch; 3 for a
package with no wheel for this interpreter or a wheel refused under the
policy; 4 for a wheel whose hash or size is not the lock's.`,
		Example: `  forge sync pylock.toml --env app --dry-run
  forge sync pylock.toml --env app
  forge sync locks/pylock.app.toml --env ci --find-links wheelhouse/`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSync(cmd.Context(), app, args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.env, "env", "", "environment to sync (required)")
	f.BoolVar(&o.dryRun, "dry-run", false, "print the plan; change nothing")
	f.StringVar(&o.policy, "abi-policy", "", "strict_abi, warn_abi or allow_abi (default: the environment's abi_policy)")
	f.StringVar(&o.findLinks, "find-links", "", "directory of wheel files to fetch missing wheels from (pip runs with --no-index)")
	cmd.MarkFlagRequired("env")
	cmd.RegisterFlagCompletionFunc("env", completeEnvNames(app))
	return cmd
}

func runSync(ctx context.Context, app *App, file string, o syncOptions) error {
	ws, err := openWorkspace(app, "")
	if err != nil {
		return err
	}
	defer ws.Close()
	var pipOut io.Writer
	if !app.Quiet && !app.JSON {
		pipOut = app.Stderr
	}
	rep, err := reproduce.Sync(ctx, ws, reproduce.SyncOptions{Env: o.env, Lock: file, DryRun: o.dryRun, Policy: abi.Policy(o.policy), FindLinks: o.findLinks, PipOutput: pipOut})
	if rep == nil {
		return err
	}
	if perr := app.PrintOutcome(rep, err, func(w io.Writer) { printSync(w, rep, err != nil, app.Verbose) }); perr != nil {
		return perr
	}
	return reported(app, err)
}

func printSync(w io.Writer, rep *reproduce.SyncReport, failed, verbose bool) {
	for _, p := range rep.Packages {
		line := fmt.Sprintf("%-7s %s %s", p.Action, p.Name, p.Version)
		var notes []string
		if p.Layer != "LOCAL" {
			notes = append(notes, "from "+p.Layer)
		}
		if p.Replaces != "" {
			notes = append(notes, "replaces "+p.Replaces)
		}
		if p.Fetch != "" {
			notes = append(notes, "fetch: "+p.Fetch)
		}
		if p.Verdict != "" && p.Verdict != abi.Accept {
			notes = append(notes, "abi: "+string(p.Verdict))
		}
		for i, n := range notes {
			if i == 0 {
				line += "  ["
			} else {
				line += ", "
			}
			line += n
		}
		if len(notes) > 0 {
			line += "]"
		}
		fmt.Fprintln(w, line)
		printFindings(w, "    ", p.Findings, verbose)
	}
	switch {
	case failed && !rep.DryRun:
		fmt.Fprintf(w, "not synced: %s to %s planned to add %d, remove %d, keep %d, fetch %d\n", rep.Env, rep.Lock, rep.Added, rep.Removed, rep.Kept, rep.Fetched)
		return
	case rep.DryRun:
		fmt.Fprintf(w, "dry run: syncing %s to %s would add %d, remove %d, keep %d, fetch %d; nothing changed\n", rep.Env, rep.Lock, rep.Added, rep.Removed, rep.Kept, rep.Fetched)
		return
	}
	fmt.Fprintf(w, "synced %s to %s: %d added, %d removed, %d kept, %d fetched\n", rep.Env, rep.Lock, rep.Added, rep.Removed, rep.Kept, rep.Fetched)
	if rep.AutoSnapshot != "" {
		fmt.Fprintf(w, "before it: snapshot %s (undo with forge rollback %s %s)\n", rep.AutoSnapshot, rep.Env, rep.AutoSnapshot)
	}
}
