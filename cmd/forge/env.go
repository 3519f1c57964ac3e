package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/forge-ml/forge/workspace"
)

func init() { register(newEnvCmd) }

func newEnvCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Per-environment settings, removing an environment, and test environments",
		Long: `Settings of an environment (defaults for its commands):
` + settingsHelp() + `
Flags on a command override them (--abi-policy, --link-mode, --mode).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("forge env needs a subcommand: set, get, unset, rm or test")
		},
	}
	cmd.AddCommand(newEnvSetCmd(app), newEnvGetCmd(app), newEnvUnsetCmd(app), newEnvRmCmd(app), newEnvTestCmd(app))
	return cmd
}

func settingsHelp() string {
	var b strings.Builder
	width := 0
	for _, s := range workspace.SettingSpecs {
		width = max(width, len(s.Key))
	}
	for _, s := range workspace.SettingSpecs {
		fmt.Fprintf(&b, "  %-*s  %s (default %s): %s\n", width, s.Key, strings.Join(s.Values, "|"), s.Default, s.Doc)
	}
	return b.String()
}

func newEnvSetCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:               "set ENV KEY VALUE",
		Short:             "Set one setting of an environment",
		Long:              "Set one setting of an environment. Keys and values:\n" + settingsHelp(),
		Example:           "  forge env set app abi_policy strict_abi\n  forge env set app resolver_mode strict\n  forge env set app distutils_shim on   # Python 3.12+: import distutils from setuptools",
		Args:              cobra.ExactArgs(3),
		ValidArgsFunction: completeSettingArgs(app),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[2] == "" {
				return usagef("empty value: use forge env unset %s %s to go back to the default", args[0], args[1])
			}
			return runEnvSet(cmd.Context(), app, args[0], args[1], args[2])
		},
	}
}

func newEnvUnsetCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:               "unset ENV KEY",
		Short:             "Remove one setting of an environment, so its default applies",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: completeSettingArgs(app),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEnvSet(cmd.Context(), app, args[0], args[1], "")
		},
	}
}

func runEnvSet(ctx context.Context, app *App, env, key, value string) error {
	ws, err := openWorkspace(app, "")
	if err != nil {
		return err
	}
	defer ws.Close()
	rep, err := ws.SetSetting(ctx, env, key, value)
	if err != nil {
		return err
	}
	return app.Print(rep, func(w io.Writer) {
		printSettings(w, rep, false)
		for _, n := range rep.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
	})
}

func newEnvGetCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "get ENV [KEY]",
		Short: "Show an environment's settings, or the value of one",
		Long: `Show every setting of an environment with its value and whether the environment
sets it or the default applies; with KEY, print only that value.`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: completeSettingArgs(app),
		RunE: func(cmd *cobra.Command, args []string) error {
			key := ""
			if len(args) == 2 {
				key = args[1]
			}
			return runEnvGet(cmd.Context(), app, args[0], key)
		},
	}
}

func runEnvGet(ctx context.Context, app *App, env, key string) error {
	ws, err := openWorkspace(app, "")
	if err != nil {
		return err
	}
	defer ws.Close()
	rep, err := ws.Settings(ctx, env, key)
	if err != nil {
		return err
	}
	return app.Print(rep, func(w io.Writer) { printSettings(w, rep, key != "") })
}

// printSettings writes "key value (source)" lines, or with valueOnly the
// bare value of the single setting, for scripts.
func printSettings(w io.Writer, r *workspace.SettingsReport, valueOnly bool) {
	if valueOnly && len(r.Settings) == 1 {
		fmt.Fprintln(w, r.Settings[0].Value)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, s := range r.Settings {
		src := ""
		if s.Source == "default" {
			src = "(default)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Key, s.Value, src)
	}
	tw.Flush()
}

type envRmOptions struct{ force bool }

func newEnvRmCmd(app *App) *cobra.Command {
	var o envRmOptions
	cmd := &cobra.Command{
		Use:   "rm ENV",
		Short: "Remove an environment: unlink its packages, delete its directory and record",
		Long: `Remove an environment. Its LOCAL packages are unlinked (the store keeps the
entries until forge gc finds them unreferenced), its directory is deleted and its
record dropped. An environment that is the parent of others is refused.
--force removes it even when it cannot be opened (its interpreter is gone) or a
link cannot be removed.`,
		Aliases:           []string{"remove"},
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeEnvArgs(app, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEnvRm(cmd.Context(), app, args[0], o)
		},
	}
	cmd.Flags().BoolVar(&o.force, "force", false, "remove even when the environment is damaged")
	return cmd
}

func runEnvRm(ctx context.Context, app *App, env string, o envRmOptions) error {
	ws, err := openWorkspace(app, "")
	if err != nil {
		return err
	}
	defer ws.Close()
	rep, err := ws.RemoveEnv(ctx, workspace.RemoveEnvOptions{Env: env, Force: o.force})
	if err != nil {
		return err
	}
	return app.Print(rep, func(w io.Writer) {
		fmt.Fprintf(w, "removed %s (%s)\n", rep.Env, rep.Path)
		for _, p := range rep.Unlinked {
			fmt.Fprintf(w, "  unlinked %s %s\n", p.Name, p.Version)
		}
		for _, n := range rep.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
	})
}

// completeEnvNames completes a flag whose value is an environment name.
func completeEnvNames(app *App) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return envNames(app), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeEnvArgs completes the first n arguments as environment names.
func completeEnvArgs(app *App, n int) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) < n {
			return envNames(app), cobra.ShellCompDirectiveNoFileComp
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeSettingArgs completes ENV KEY VALUE.
func completeSettingArgs(app *App) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		switch len(args) {
		case 0:
			return envNames(app), cobra.ShellCompDirectiveNoFileComp
		case 1:
			return workspace.SettingKeys(), cobra.ShellCompDirectiveNoFileComp
		case 2:
			for _, s := range workspace.SettingSpecs {
				if s.Key == args[1] {
					return s.Values, cobra.ShellCompDirectiveNoFileComp
				}
			}
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}
