package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"
)

func init() { register(newActivateCmd) }

func newActivateCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:     "activate ENV",
		Short:   "Print shell exports that enter an environment (VIRTUAL_ENV, PATH, layered PYTHONPATH)",
		Example: `  eval "$(forge activate app)"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runActivate(cmd.Context(), app, args[0])
		},
	}
}

func runActivate(ctx context.Context, app *App, name string) error {
	ws, err := openWorkspace(app, "")
	if err != nil {
		return err
	}
	defer ws.Close()
	a, err := ws.Activate(ctx, name)
	if err != nil {
		return err
	}
	// Exports are the result: printed even with --quiet.
	if app.JSON {
		return app.Print(a, nil)
	}
	_, err = io.WriteString(app.Stdout, a.Shell())
	return err
}
