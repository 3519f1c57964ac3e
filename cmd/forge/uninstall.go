package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/forge-ml/forge/workspace"
)

func init() { register(newUninstallCmd) }

type uninstallOptions struct {
	env    string
	local  bool
	global bool
}

func newUninstallCmd(app *App) *cobra.Command {
	var o uninstallOptions
	cmd := &cobra.Command{
		Use:   "uninstall NAME... --env ENV",
		Short: "Remove packages' links from an environment (the store is untouched)",
		Long: `Remove packages' links from an environment; the store is untouched.

Names that are not installed are reported and skipped as long as another
name was removed (exit 0), so an interrupted "forge uninstall a b c" can be
run again; when none of the names is installed, forge exits 1.`,
		Example: `  forge uninstall requests --env app`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUninstall(cmd.Context(), app, args, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.env, "env", "", "environment (required)")
	f.BoolVar(&o.local, "local", false, "from the environment's own layer: the default")
	f.BoolVar(&o.global, "global", false, "from the GLOBAL layer")
	cmd.MarkFlagRequired("env")
	return cmd
}

func runUninstall(ctx context.Context, app *App, names []string, o uninstallOptions) error {
	if o.local && o.global {
		return usagef("--local and --global exclude each other")
	}
	ws, err := openWorkspace(app, "")
	if err != nil {
		return err
	}
	defer ws.Close()
	rep, err := ws.Uninstall(ctx, workspace.UninstallOptions{Env: o.env, Names: names, Global: o.global})
	if err != nil && (rep == nil || len(rep.Removed) == 0) {
		return err
	}
	for _, n := range rep.NotInstalled {
		app.Infof("%s was not installed in %s: nothing to remove", n, o.env)
	}
	notInstalled := rep.NotInstalled
	if notInstalled == nil {
		notInstalled = []string{}
	}
	if perr := app.Print(map[string]any{"env": o.env, "removed": rep.Removed, "not_installed": notInstalled}, func(w io.Writer) {
		for _, r := range rep.Removed {
			// The GLOBAL layer is not the environment's: name it and its
			// Python, whose every environment loses the package.
			from := o.env + " (" + r.Layer + " layer)"
			if r.Layer == "GLOBAL" {
				from = "GLOBAL (Python " + rep.Python + ")"
			}
			fmt.Fprintf(w, "removed %s %s from %s\n", r.Name, r.Version, from)
		}
	}); perr != nil {
		return perr
	}
	return reported(app, err)
}
