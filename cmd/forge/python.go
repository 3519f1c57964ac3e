package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/forge-ml/forge/probe"
)

func init() { register(newPythonCmd) }

func newPythonCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "python",
		Short: "The Python interpreters forge can see",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("forge python needs a subcommand: list")
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List interpreters (pyenv's, pythonX.Y on PATH, the system's): version, path, whether forge supports it",
		Long: `List the interpreters forge can see: pyenv's under $PYENV_ROOT/versions (or
~/.pyenv/versions), each pythonX.Y on PATH (pyenv's shims skipped) and the
system's. Each is asked for its version. forge creates environments with
` + probe.SupportedRange() + `; --python takes X.Y or a path.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPythonList(app)
		},
	})
	return cmd
}

// pythonListReport is the --json document of forge python list.
type pythonListReport struct {
	Supported string         `json:"supported"`
	Pythons   []probe.Python `json:"pythons"`
}

func runPythonList(app *App) error {
	rep := pythonListReport{Supported: probe.SupportedRange(), Pythons: probe.Pythons()}
	if rep.Pythons == nil {
		rep.Pythons = []probe.Python{}
	}
	return app.Print(rep, func(w io.Writer) {
		if len(rep.Pythons) == 0 {
			fmt.Fprintln(w, "no Python interpreter found (looked in pyenv's versions and on PATH)")
			return
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tSUPPORTED\tSOURCE\tPATH")
		for _, p := range rep.Pythons {
			v, sup := p.Version, "yes"
			if v == "" {
				v, sup = "?", "no ("+p.Error+")"
			} else if !p.Supported {
				sup = "no (forge supports " + probe.SupportedRange() + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v, sup, p.Source, p.Path)
		}
		tw.Flush()
	})
}
