package main

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/spf13/cobra"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace/doctor"
)

func init() { register(newDoctorCmd) }

type doctorOptions struct {
	fix         bool
	dryRun      bool
	verify      bool
	enforce     bool
	abi         bool
	hostProfile string
	envs        []string
	noCache     bool
	rebuild     bool
}

func newDoctorCmd(app *App) *cobra.Command {
	var o doctorOptions
	cmd := &cobra.Command{
		Use:   "doctor [--fix [--dry-run]] [--verify] [--enforce] | --abi [--host-profile FILE]",
		Short: "Check the store, metadata and environments for drift; --abi re-checks every linked package against the host",
		Long: `doctor compares the metadata with the filesystem: store entries and their
directories, refcounts and manifests, links in environments, staging
leftovers, writable store files, entries fingerprinted by an older forge
(stale_fingerprint: --fix fingerprints them again from their files),
rollbacks that did not finish (rollback_interrupted: --fix finishes them).
--verify re-hashes every store file against its RECORD (exit 4 on a
mismatch). --fix applies only safe repairs and says
what it planned and did; --fix --dry-run only plans. --enforce exits 3 when
issues remain.

--abi re-checks every package every environment sees against this host (or
--host-profile) from the fingerprints stored at ingest, under each
environment's abi_policy: exit 3 when one is refused (or warned, with
--enforce). An environment for which nothing has changed since an earlier
--abi check (its packages and its parents' and GLOBAL's, its interpreter
and policy, the host as probed now, this forge) gets that check's report
without its packages being read again ("reused" in JSON counts them);
--no-cache re-checks every environment.

--rebuild makes the records of forge.db again from the store and the
environments, for a database that was emptied, replaced or rolled back
(doctor reports metadata_lost): entries from their directories, environments
from pyvenv.cfg and their layering, installed packages from their .dist-info
(relinked as --fix relinks). It only adds records; settings set with forge
env set, snapshots and history are not recovered.`,
		Example: `  forge doctor
  forge doctor --fix --dry-run
  forge doctor --verify --json
  forge doctor --rebuild
  forge doctor --abi --host-profile a100-driver535.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.abi {
				return runDoctorABI(cmd.Context(), app, o)
			}
			if o.rebuild {
				return runDoctorRebuild(cmd.Context(), app, o)
			}
			return runDoctor(cmd.Context(), app, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.fix, "fix", false, "apply the safe repairs")
	f.BoolVar(&o.dryRun, "dry-run", false, "with --fix: only plan the repairs")
	f.BoolVar(&o.verify, "verify", false, "re-hash every store file against its RECORD")
	f.BoolVar(&o.noCache, "no-cache", false, "with --abi: re-check every package even when nothing changed since the last check")
	f.BoolVar(&o.enforce, "enforce", false, "exit 3 when issues remain (with --abi: when a package is only warned)")
	f.BoolVar(&o.rebuild, "rebuild", false, "rebuild forge.db's records from the store entries and the environments")
	f.BoolVar(&o.abi, "abi", false, "re-check every linked package against the host")
	f.StringVar(&o.hostProfile, "host-profile", "", "with --abi: check against this host profile instead of this machine")
	f.StringSliceVar(&o.envs, "env", nil, "with --abi: only these environments")
	return cmd
}

func runDoctor(ctx context.Context, app *App, o doctorOptions) error {
	switch {
	case o.dryRun && !o.fix:
		return usagef("--dry-run goes with --fix")
	case o.hostProfile != "" || len(o.envs) > 0 || o.noCache:
		return usagef("--host-profile, --env and --no-cache go with --abi")
	}
	ws, err := openWorkspace(app, "")
	if err != nil {
		return err
	}
	defer ws.Close()
	rep, err := doctor.Run(ctx, ws, doctor.Options{Fix: o.fix, DryRun: o.dryRun, Verify: o.verify})
	if rep == nil {
		return err
	}
	if perr := app.Print(rep, func(w io.Writer) { printDoctor(w, rep) }); perr != nil {
		return perr
	}
	if len(rep.Remaining) > 0 {
		quietSummary(app, fmt.Sprintf("%d issue(s) remain in %s: run forge doctor without --quiet for them", len(rep.Remaining), rep.Home))
	}
	switch {
	case err != nil:
		return reported(app, err)
	case rep.MetadataLost():
		return reported(app, doctor.ErrMetadataLost)
	case rep.Integrity():
		return reported(app, fmt.Errorf("store files differ from what was verified at ingest: %w", store.ErrCorrupt))
	case o.enforce && !rep.Clean():
		return codeError{exitRefused, fmt.Errorf("--enforce: %d issue(s) remain", len(rep.Remaining))}
	}
	return nil
}

func printDoctor(w io.Writer, rep *doctor.Report) {
	fmt.Fprintf(w, "forge doctor: %s\n", rep.Home)
	fmt.Fprintf(w, "scanned %d metadata rows, %d environments, %d store entries, %d links; %d files verified\n",
		rep.MetadataRowsScanned, rep.EnvsScanned, rep.EntriesScanned, rep.LinksScanned, rep.FilesVerified)
	if len(rep.Issues) == 0 {
		fmt.Fprintln(w, "no issues found")
		return
	}
	kinds := make([]string, 0, len(rep.IssuesByKind))
	for k := range rep.IssuesByKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	fmt.Fprintf(w, "issues (%d):", len(rep.Issues))
	for _, k := range kinds {
		fmt.Fprintf(w, " %s %d", k, rep.IssuesByKind[k])
	}
	fmt.Fprintln(w)
	for _, is := range rep.Issues {
		where := is.Env
		if where != "" {
			where = "[" + where + "] "
		}
		if is.Info {
			where = "(info) " + where
		}
		fmt.Fprintf(w, "  %-18s %s%s\n", is.Kind, where, is.Message)
		if is.Fixable {
			fmt.Fprintf(w, "  %-18s fix: %s\n", "", is.Fix)
		}
	}
	printFixes := func(title string, fs []doctor.Fix) {
		if len(fs) == 0 {
			return
		}
		fmt.Fprintf(w, "%s (%d):\n", title, len(fs))
		for _, f := range fs {
			fmt.Fprintf(w, "  %-18s %s", f.Action, f.Description)
			if f.Error != "" {
				fmt.Fprintf(w, ": %s", f.Error)
			}
			fmt.Fprintln(w)
		}
	}
	printFixes("planned fixes", rep.Planned)
	printFixes("applied", rep.Applied)
	printFixes("failed", rep.Failed)
	switch {
	case len(rep.Applied) > 0 || len(rep.Failed) > 0:
		fmt.Fprintf(w, "remaining issues: %d\n", len(rep.Remaining))
		for _, is := range rep.Remaining {
			fmt.Fprintf(w, "  %-18s %s\n", is.Kind, is.Message)
		}
	case len(rep.Planned) > 0 && len(rep.Applied) == 0:
		fmt.Fprintln(w, "dry run: nothing changed")
	default:
		fixable := 0
		for _, is := range rep.Issues {
			if is.Fixable {
				fixable++
			}
		}
		switch {
		case rep.MetadataLost():
			fmt.Fprintln(w, "doctor --fix changes nothing while forge.db does not account for the home: run 'forge doctor --rebuild' first")
		case fixable > 0:
			fmt.Fprintf(w, "%d issue(s) have a safe fix: run 'forge doctor --fix'\n", fixable)
		}
	}
}

func runDoctorABI(ctx context.Context, app *App, o doctorOptions) error {
	if o.fix || o.dryRun || o.verify {
		return usagef("--abi does not combine with --fix, --dry-run or --verify")
	}
	ws, err := openWorkspace(app, o.hostProfile)
	if err != nil {
		return err
	}
	defer ws.Close()
	rep, err := doctor.ABI(ctx, ws, doctor.ABIOptions{Envs: o.envs, NoCache: o.noCache})
	if rep == nil {
		return err
	}
	if perr := app.Print(rep, func(w io.Writer) { printDoctorABI(w, rep, app.Verbose) }); perr != nil {
		return perr
	}
	if rep.Warned+rep.Refused > 0 {
		quietSummary(app, abiSummary(rep))
	}
	switch {
	case err != nil:
		return reported(app, err)
	case rep.Refused > 0:
		return reported(app, fmt.Errorf("%d package(s) refused on this host: %w", rep.Refused, abi.ErrIncompatible))
	case o.enforce && rep.Warned > 0:
		return codeError{exitRefused, fmt.Errorf("--enforce: %d package(s) admitted with warnings", rep.Warned)}
	}
	return nil
}

func printDoctorABI(w io.Writer, rep *doctor.ABIReport, verbose bool) {
	for _, e := range rep.Envs {
		fmt.Fprintf(w, "%s (Python %s) on %s under %s: %s\n", e.Env, e.Python, e.Host, e.Policy, e.Verdict)
		if e.Error != "" {
			fmt.Fprintf(w, "    error: %s\n", e.Error)
		}
		for _, p := range e.Packages {
			if p.Verdict == abi.Accept && !verbose {
				continue
			}
			fmt.Fprintf(w, "  %-7s %s %s [%s]\n", p.Verdict, p.Name, p.Version, p.Layer)
			printFindings(w, "      ", p.Findings, verbose)
		}
	}
	fmt.Fprintln(w, abiSummary(rep))
}

func abiSummary(rep *doctor.ABIReport) string {
	return fmt.Sprintf("%d package(s) checked in %d environment(s): %d accepted, %d warned, %d refused",
		rep.Checked, len(rep.Envs), rep.Accepted, rep.Warned, rep.Refused)
}

func runDoctorRebuild(ctx context.Context, app *App, o doctorOptions) error {
	if o.fix || o.dryRun || o.verify || o.enforce || o.hostProfile != "" || len(o.envs) > 0 || o.noCache {
		return usagef("--rebuild goes alone")
	}
	ws, err := openWorkspace(app, "")
	if err != nil {
		return err
	}
	defer ws.Close()
	rep, err := doctor.Rebuild(ctx, ws)
	if rep == nil {
		return err
	}
	if perr := app.Print(rep, func(w io.Writer) { printRebuild(w, rep) }); perr != nil {
		return perr
	}
	switch {
	case err != nil:
		return reported(app, err)
	case len(rep.Problems) > 0:
		return reported(app, fmt.Errorf("%d record(s) could not be rebuilt (nothing was removed)", len(rep.Problems)))
	}
	return nil
}

func printRebuild(w io.Writer, rep *doctor.RebuildReport) {
	fmt.Fprintf(w, "forge doctor --rebuild: %s\n", rep.Home)
	if rep.Rerooted != "" {
		fmt.Fprintf(w, "re-rooted the environments from %s (a copied or moved home)\n", rep.Rerooted)
	}
	fmt.Fprintf(w, "recorded %d store entr(ies), %d environment(s), %d installed package(s)\n", len(rep.Entries), len(rep.Envs), len(rep.Packages))
	for _, p := range rep.Packages {
		fmt.Fprintf(w, "  relinked %s\n", p)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "  problem: %s\n", p)
	}
	if rep.Doctor != nil {
		printDoctor(w, rep.Doctor)
	}
}

// quietSummary prints a report's one-line summary on stderr under --quiet
// (text only) when the report found something: --quiet drops the report,
// and a warning that exits 0 would otherwise leave no trace at all.
func quietSummary(app *App, line string) {
	if app.Quiet && !app.JSON {
		fmt.Fprintf(app.Stderr, "forge doctor: %s\n", line)
	}
}
