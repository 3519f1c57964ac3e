package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/forge-ml/forge/workspace"
)

func init() { register(newEnvsCmd) }

func newEnvsCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "envs",
		Short: "List environments: name, parent, Python version, package count, path",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEnvs(cmd.Context(), app)
		},
	}
}

// envsReport is the --json document of forge envs.
type envsReport struct {
	Envs []workspace.EnvSummary `json:"envs"`
}

func runEnvs(ctx context.Context, app *App) error {
	ws, err := openWorkspace(app, "")
	if err != nil {
		return err
	}
	defer ws.Close()
	envs, err := ws.Envs(ctx)
	if err != nil {
		return err
	}
	rep := envsReport{Envs: envs}
	return app.Print(rep, func(w io.Writer) {
		if len(envs) == 0 {
			fmt.Fprintln(w, "no environments (forge create ENV makes one)")
			return
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tPARENT\tPYTHON\tPACKAGES\tPATH")
		for _, e := range envs {
			parent := e.Parent
			if parent == "" {
				parent = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", e.Name, parent, e.PythonVersion, e.Packages, e.Path)
		}
		tw.Flush()
	})
}
