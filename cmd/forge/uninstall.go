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
		Use:     "uninstall NAME... --env ENV",
		Short:   "Remove packages' links from an environment (the store is untouched)",
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
	removed, err := ws.Uninstall(ctx, workspace.UninstallOptions{Env: o.env, Names: names, Global: o.global})
	if err != nil && len(removed) == 0 {
		return err
	}
	if perr := app.Print(map[string]any{"env": o.env, "removed": removed}, func(w io.Writer) {
		for _, r := range removed {
			fmt.Fprintf(w, "removed %s %s from %s (%s layer)\n", r.Name, r.Version, o.env, r.Layer)
		}
	}); perr != nil {
		return perr
	}
	return reported(app, err)
}
