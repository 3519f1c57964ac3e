package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/forge-ml/forge/resolver"
	"github.com/forge-ml/forge/workspace/inspect"
)

func init() { register(newInspectCmd) }

type inspectOptions struct {
	env     string
	mode    string
	enforce bool
}

func newInspectCmd(app *App) *cobra.Command {
	var o inspectOptions
	cmd := &cobra.Command{
		Use:   "inspect NAME --env ENV",
		Short: "Show which layer's copy of a package an environment imports, why, and what it shadows",
		Long: `Resolve the environment's layers (LOCAL > PARENT chain > GLOBAL) and report on one
package: the winning layer and version, the reason, the shadowed copies
(shadowed_sources) and the dependency conflicts the package takes part in.

Conflict modes: loose reports nothing, warn reports conflicts, strict reports them
and exits 3. The default is the environment's resolver_mode setting, else warn.
With --enforce, conflicts reported in warn mode also exit 3.`,
		Example: `  forge inspect numpy --env app
  forge inspect numpy --env app --mode strict --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.Context(), app, args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.env, "env", "", "environment to inspect (required)")
	f.StringVar(&o.mode, "mode", "", "conflict mode: loose, warn or strict (default: the environment's resolver_mode, else warn)")
	f.BoolVar(&o.enforce, "enforce", false, "conflicts reported in warn mode also exit 3")
	cmd.MarkFlagRequired("env")
	cmd.RegisterFlagCompletionFunc("env", completeEnvNames(app))
	cmd.RegisterFlagCompletionFunc("mode", cobra.FixedCompletions([]string{"loose", "warn", "strict"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runInspect(ctx context.Context, app *App, name string, o inspectOptions) error {
	ws, err := openWorkspace(app, "")
	if err != nil {
		return err
	}
	defer ws.Close()
	rep, err := inspect.Inspect(ctx, ws, inspect.InspectOptions{Env: o.env, Name: name, Mode: o.mode})
	if err != nil {
		return err
	}
	if err := app.Print(rep, func(w io.Writer) { printInspect(w, rep) }); err != nil {
		return err
	}
	return conflictExit(rep.Mode, rep.Conflicts, o.enforce)
}

// conflictExit is exit 3 for conflicts in strict mode, or in warn mode with
// --enforce; the report has been printed already.
func conflictExit(mode resolver.Mode, conflicts []resolver.Conflict, enforce bool) error {
	if len(conflicts) == 0 || mode == resolver.Loose {
		return nil
	}
	if mode == resolver.Strict {
		return codeError{exitRefused, fmt.Errorf("strict mode: %w", &resolver.ConflictError{Conflicts: conflicts})}
	}
	if enforce {
		return codeError{exitRefused, fmt.Errorf("--enforce: %w", &resolver.ConflictError{Conflicts: conflicts})}
	}
	return nil
}

func printInspect(w io.Writer, r *inspect.InspectReport) {
	fmt.Fprintf(w, "%s %s in %s (Python %s)\n", r.Name, r.Version, r.Env, r.Python)
	fmt.Fprintf(w, "  layer:    %s %s\n", r.LayerKind, r.LayerKey)
	fmt.Fprintf(w, "  path:     %s\n", r.Path)
	if r.Entry != "" {
		fmt.Fprintf(w, "  entry:    %s\n", r.Entry)
	}
	fmt.Fprintf(w, "  reason:   %s\n", r.Reason)
	if len(r.ShadowedSources) == 0 {
		fmt.Fprintf(w, "  shadows:  nothing\n")
	}
	for _, s := range r.ShadowedSources {
		fmt.Fprintf(w, "  shadows:  %s %s in %s %s\n", r.Name, s.Version, s.LayerKind, s.Layer)
	}
	if len(r.Requires) > 0 {
		fmt.Fprintf(w, "  requires: %s\n", strings.Join(r.Requires, ", "))
	}
	if len(r.ActiveExtras) > 0 {
		fmt.Fprintf(w, "  extras in use: %s\n", strings.Join(r.ActiveExtras, ", "))
	}
	printConflicts(w, r.Mode, r.Conflicts)
}

func printConflicts(w io.Writer, mode resolver.Mode, cs []resolver.Conflict) {
	switch {
	case mode == resolver.Loose:
		fmt.Fprintf(w, "conflicts: not checked (mode loose)\n")
	case len(cs) == 0:
		fmt.Fprintf(w, "conflicts: none (mode %s)\n", mode)
	default:
		fmt.Fprintf(w, "conflicts (mode %s):\n", mode)
		for _, c := range cs {
			fmt.Fprintf(w, "  %s: %s\n", c.Kind, c.Message)
		}
	}
}
