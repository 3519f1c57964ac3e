package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/forge-ml/forge/probe"
	"github.com/forge-ml/forge/workspace"
)

func init() { register(newCreateCmd) }

type createOptions struct {
	parent     string
	python     string
	withoutPip bool
}

func newCreateCmd(app *App) *cobra.Command {
	var o createOptions
	cmd := &cobra.Command{
		Use:   "create ENV",
		Short: "Create an environment (a real venv), optionally layered on a parent",
		Example: `  forge create base --python 3.12
  forge create app --parent base`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCreate(cmd.Context(), app, args[0], o)
		},
	}
	cmd.Flags().StringVar(&o.parent, "parent", "", "parent environment whose packages this one sees")
	cmd.Flags().StringVar(&o.python, "python", "", "interpreter, "+probe.SupportedRange()+": a path or X.Y (forge python list shows them; default: the parent's, else python3 on PATH)")
	cmd.Flags().BoolVar(&o.withoutPip, "without-pip", false, "do not link the interpreter's bundled pip into the environment")
	return cmd
}

func runCreate(ctx context.Context, app *App, name string, o createOptions) error {
	ws, err := openWorkspace(app, "")
	if err != nil {
		return err
	}
	defer ws.Close()
	e, err := ws.Create(ctx, workspace.CreateOptions{Name: name, Parent: o.parent, Python: o.python, WithoutPip: o.withoutPip})
	if err != nil {
		return err
	}
	out := map[string]any{"name": e.Name, "path": e.Path, "parent": e.Parent, "python": e.Py.Executable, "python_version": e.Py.Version,
		"site_packages": e.Venv.SitePackages()}
	return app.Print(out, func(w io.Writer) {
		fmt.Fprintf(w, "created %s (Python %s) at %s\n", e.Name, e.Py.Version, e.Path)
		if e.Parent != "" {
			fmt.Fprintf(w, "layered on %s\n", e.Parent)
		}
	})
}
