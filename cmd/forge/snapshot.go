package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace/reproduce"
)

func init() {
	register(newSnapshotCmd)
	register(newSnapshotsCmd)
}

func newSnapshotCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot ENV [NAME]",
		Short: "Record an environment's own packages and settings as a restore point",
		Long: `Record an environment's own (LOCAL) layer, each package's store entry, link
mode and requested flag, and its settings, under a name (default: the time now,
YYYYMMDD-HHMMSS in UTC). forge rollback ENV NAME restores it; forge gc keeps
the entries a snapshot names until forge snapshot rm removes it.

Names are 1-64 letters, digits, '.', '_' or '-', not starting with '.'. A name
the environment already uses is refused (exit 1) and nothing changes.
Snapshots and history go with their environment (forge env rm).`,
		Example:           "  forge snapshot app before-upgrade\n  forge snapshot app\n  forge snapshot rm app before-upgrade",
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: completeEnvArgs(app, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o := reproduce.SnapshotOptions{Env: args[0]}
			if len(args) == 2 {
				o.Name = args[1]
			}
			return runSnapshot(cmd.Context(), app, o)
		},
	}
	cmd.AddCommand(newSnapshotRmCmd(app))
	return cmd
}

func runSnapshot(ctx context.Context, app *App, o reproduce.SnapshotOptions) error {
	ws, err := openWorkspace(app, "")
	if err != nil {
		return err
	}
	defer ws.Close()
	sn, err := reproduce.Snapshot(ctx, ws, o)
	if err != nil {
		return err
	}
	return app.Print(sn, func(w io.Writer) {
		fmt.Fprintf(w, "snapshot %s of %s: %d package%s\n", sn.Name, sn.Env, len(sn.Entries), pluralS(len(sn.Entries)))
	})
}

func newSnapshotRmCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:               "rm ENV NAME",
		Short:             "Remove a snapshot; forge gc may then collect the entries only it kept",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: completeEnvArgs(app, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSnapshotRm(cmd.Context(), app, args[0], args[1])
		},
	}
}

func runSnapshotRm(ctx context.Context, app *App, env, name string) error {
	ws, err := openWorkspace(app, "")
	if err != nil {
		return err
	}
	defer ws.Close()
	if err := reproduce.RemoveSnapshot(ctx, ws, env, name); err != nil {
		return err
	}
	return app.Print(map[string]string{"env": env, "removed": name}, func(w io.Writer) {
		fmt.Fprintf(w, "removed snapshot %s of %s\n", name, env)
	})
}

func newSnapshotsCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:               "snapshots ENV",
		Short:             "List an environment's snapshots, oldest first",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeEnvArgs(app, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSnapshots(cmd.Context(), app, args[0])
		},
	}
}

// snapshotsReport is the --json document of forge snapshots.
type snapshotsReport struct {
	Env       string            `json:"env"`
	Snapshots []*store.Snapshot `json:"snapshots"`
}

func runSnapshots(ctx context.Context, app *App, env string) error {
	ws, err := openWorkspace(app, "")
	if err != nil {
		return err
	}
	defer ws.Close()
	ss, err := reproduce.Snapshots(ctx, ws, env)
	if err != nil {
		return err
	}
	return app.Print(snapshotsReport{Env: env, Snapshots: ss}, func(w io.Writer) {
		if len(ss) == 0 {
			fmt.Fprintf(w, "%s has no snapshots (forge snapshot %s takes one)\n", env, env)
			return
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tCREATED\tKIND\tPACKAGES")
		for _, s := range ss {
			kind := "manual"
			if s.Auto {
				kind = "auto"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", s.Name, s.Created.Format("2006-01-02 15:04:05Z"), kind, len(s.Entries))
		}
		tw.Flush()
	})
}

func pluralS(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
