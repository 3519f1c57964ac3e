package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/forge-ml/forge/workspace/inspect"
	"github.com/spf13/cobra"
)

func init() { register(newTreeCmd) }

type treeOptions struct {
	env     string
	mode    string
	dot     bool
	enforce bool
}

func newTreeCmd(app *App) *cobra.Command {
	var o treeOptions
	cmd := &cobra.Command{
		Use:   "tree --env ENV",
		Short: "Show an environment's layers, their packages, which copies win, and dependency conflicts",
		Long: `List the layers of an environment, most local first (LOCAL, parents nearest
first, GLOBAL), with every package each holds. "*" marks the copy the environment
imports; a shadowed copy names the layer that wins instead. Then the dependency
edges of the effective set and the conflicts the mode reports (see forge inspect).
--dot prints a Graphviz digraph instead: layers as clusters, dependency edges,
conflicting edges in red.`,
		Example: `  forge tree --env app
  forge tree --env app --dot | dot -Tsvg > app.svg`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTree(cmd.Context(), app, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.env, "env", "", "environment to show (required)")
	f.StringVar(&o.mode, "mode", "", "conflict mode: loose, warn or strict (default: the environment's resolver_mode, else warn)")
	f.BoolVar(&o.dot, "dot", false, "print a Graphviz digraph")
	f.BoolVar(&o.enforce, "enforce", false, "conflicts reported in warn mode also exit 3")
	cmd.MarkFlagRequired("env")
	cmd.RegisterFlagCompletionFunc("env", completeEnvNames(app))
	cmd.RegisterFlagCompletionFunc("mode", cobra.FixedCompletions([]string{"loose", "warn", "strict"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runTree(ctx context.Context, app *App, o treeOptions) error {
	if o.dot && app.JSON {
		return usagef("--dot and --json exclude each other")
	}
	ws, err := openWorkspace(app, "")
	if err != nil {
		return err
	}
	defer ws.Close()
	rep, err := inspect.Tree(ctx, ws, inspect.TreeOptions{Env: o.env, Mode: o.mode})
	if err != nil {
		return err
	}
	if o.dot {
		writeTreeDOT(app.Stdout, rep)
	} else if err := app.Print(rep, func(w io.Writer) { printTree(w, rep) }); err != nil {
		return err
	}
	return conflictExit(rep.Mode, rep.Conflicts, o.enforce)
}

func printTree(w io.Writer, r *inspect.TreeReport) {
	fmt.Fprintf(w, "%s (Python %s), * = imported\n", r.Env, r.Python)
	// One set of column widths for every layer, so versions line up.
	nameW, verW, modeW := 0, 0, 0
	for _, l := range r.Layers {
		for _, p := range l.Packages {
			nameW, verW, modeW = max(nameW, len(p.Name)), max(verW, len(p.Version)), max(modeW, len(p.LinkMode))
		}
	}
	for _, l := range r.Layers {
		fmt.Fprintf(w, "%s %s  %s\n", l.Kind, l.Key, l.Path)
		if len(l.Packages) == 0 {
			fmt.Fprintf(w, "  (empty)\n")
			continue
		}
		for _, p := range l.Packages {
			mark, note := " ", ""
			if p.Winner {
				mark = "*"
			} else {
				note = "shadowed by " + p.ShadowedBy
			}
			switch p.State {
			case "linked":
			case inspect.StateUnmanaged:
				note = strings.TrimSpace(note + " installed by pip, not by forge")
			default:
				note = strings.TrimSpace(note + " state " + p.State)
			}
			line := fmt.Sprintf("  %s %-*s  %-*s  %-*s  %s", mark, nameW, p.Name, verW, p.Version, modeW, p.LinkMode, note)
			fmt.Fprintln(w, strings.TrimRight(line, " "))
		}
	}
	if len(r.Edges) > 0 {
		fmt.Fprintf(w, "dependencies:\n")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, e := range r.Edges {
			to := e.To + " (" + e.ToLayer + ")"
			if e.ToLayer == "" {
				to = e.To + " (missing)"
			}
			note := ""
			if e.Conflict != "" {
				note = "[" + e.Conflict + "]"
			}
			fmt.Fprintf(tw, "  %s (%s)\t-> %s\t%s\t%s\n", e.From, e.FromLayer, to, e.Requirement, note)
		}
		tw.Flush()
	}
	printConflicts(w, r.Mode, r.Conflicts)
}

// writeTreeDOT renders the tree as a Graphviz digraph: one cluster per
// layer, a node per copy of a package (shadowed copies dashed and grey),
// solid edges for requirements (red when they conflict) and dotted edges
// from a winning copy to the copies it shadows.
func writeTreeDOT(w io.Writer, r *inspect.TreeReport) {
	id := func(layer, norm string) string { return dotQuote(layer + "/" + norm) }
	fmt.Fprintf(w, "digraph %s {\n", dotQuote("forge:"+r.Env))
	fmt.Fprintf(w, "  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n")
	winnerLayer := map[string]string{}
	for _, e := range r.Effective {
		winnerLayer[e.Normalized] = e.Layer
	}
	for i, l := range r.Layers {
		fmt.Fprintf(w, "  subgraph cluster_%d {\n    label=%s;\n", i, dotQuote(l.Kind.String()+" "+l.Key))
		if len(l.Packages) == 0 {
			fmt.Fprintf(w, "    %s [label=\"(empty)\", shape=plaintext];\n", id(l.Name, ""))
		}
		for _, p := range l.Packages {
			attrs := "label=" + dotQuote(p.Name+"\n"+p.Version)
			if !p.Winner {
				attrs += ", style=dashed, color=gray, fontcolor=gray"
			}
			fmt.Fprintf(w, "    %s [%s];\n", id(l.Name, p.Normalized), attrs)
		}
		fmt.Fprintf(w, "  }\n")
	}
	for _, l := range r.Layers {
		for _, p := range l.Packages {
			if !p.Winner {
				fmt.Fprintf(w, "  %s -> %s [style=dotted, arrowhead=none, label=\"shadows\"];\n", id(winnerLayer[p.Normalized], p.Normalized), id(l.Name, p.Normalized))
			}
		}
	}
	missing := map[string]bool{}
	for _, e := range r.Edges {
		to := id(e.ToLayer, e.To)
		if e.ToLayer == "" {
			to = id("missing", e.To)
			if !missing[e.To] {
				missing[e.To] = true
				fmt.Fprintf(w, "  %s [label=%s, shape=plaintext, fontcolor=red];\n", to, dotQuote(e.To+"\n(missing)"))
			}
		}
		attrs := "label=" + dotQuote(e.Requirement)
		if e.Conflict != "" {
			attrs += ", color=red, fontcolor=red"
		}
		fmt.Fprintf(w, "  %s -> %s [%s];\n", id(e.FromLayer, e.From), to, attrs)
	}
	fmt.Fprintf(w, "}\n")
}

// dotQuote makes a DOT double-quoted string; newlines become \n line breaks.
func dotQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
