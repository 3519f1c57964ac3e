package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/forge-ml/forge/linker"
	"github.com/forge-ml/forge/probe"
	"github.com/forge-ml/forge/workspace"
)

// Shell completion. Values come from forge's own lists (settings, --gpu)
// and, for environment and package names, from the forge home read-only
// (workspace.Completer): completing never creates a forge home, takes a
// lock, or probes NVML. Flags are completed by name on every command that
// has them (addCompletions), so a new command's --env completes without
// code of its own.

type completeFunc = func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective)

// gpuValues are the --gpu values offered: the CUDA flavours wheels are
// commonly built for (abi.ParseGPU takes any cuXYZ forge knows).
var gpuValues = []string{"auto", "cpu", "cu118", "cu121", "cu124", "cu126", "cu128"}

// settingValues are the values of one env setting, the same list forge env
// set takes.
func settingValues(key string) []string {
	for _, s := range workspace.SettingSpecs {
		if s.Key == key {
			return s.Values
		}
	}
	return nil
}

// completionHome is the forge home completion reads: --home as parsed by
// cobra's __complete, else FORGE_HOME, else ~/.forge.
func completionHome(app *App) string {
	if app.Home != "" {
		return app.Home
	}
	if h := os.Getenv("FORGE_HOME"); h != "" {
		return h
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".forge")
	}
	return ""
}

// withCompleter runs f on the forge home read-only; no home, no answers.
// Errors go to cobra's completion debug log (BASH_COMP_DEBUG_FILE), never
// to the terminal a TAB was pressed in.
func withCompleter(app *App, f func(*workspace.Completer) ([]string, error)) []string {
	home := completionHome(app)
	if home == "" {
		return nil
	}
	c, err := workspace.OpenCompleter(home)
	if err != nil {
		cobra.CompDebugln("forge: "+err.Error(), false)
		return nil
	}
	defer c.Close()
	got, err := f(c)
	if err != nil {
		cobra.CompDebugln("forge: "+err.Error(), false)
	}
	return got
}

// envNames lists the environments for shell completion.
func envNames(app *App) []string {
	return withCompleter(app, func(c *workspace.Completer) ([]string, error) { return c.EnvNames(context.Background()) })
}

// completePackages completes NAME arguments with the packages of the
// environment named by --env, leaving out names already on the line.
func completePackages(app *App, which func(*cobra.Command) workspace.Layers, max int) completeFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		env, _ := cmd.Flags().GetString("env")
		if env == "" || (max > 0 && len(args) >= max) {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names := withCompleter(app, func(c *workspace.Completer) ([]string, error) {
			return c.Packages(context.Background(), env, which(cmd))
		})
		names = slices.DeleteFunc(names, func(n string) bool { return slices.Contains(args, n) })
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// pythonSpecs completes --python with the X.Y of each supported interpreter
// forge sees (by name: nothing is run), described by its path.
func pythonSpecs(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	var out []string
	seen := map[string]bool{}
	for _, c := range probe.Candidates() {
		x, y, ok := probe.MajorMinor(c.XY + ".0")
		if !ok || !probe.Supported(x, y) || seen[c.XY] {
			continue
		}
		seen[c.XY] = true
		out = append(out, c.XY+"\t"+c.Path)
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// fixed completes a flag with a list of values.
func shellNames() []string {
	var out []string
	for _, sh := range linker.Shells {
		out = append(out, string(sh))
	}
	return out
}

func fixed(values []string) completeFunc {
	return cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp)
}

// addCompletions registers a completion for every flag forge completes by
// name, on every command that has it and has none yet, and completes the
// arguments of the commands that take environment or package names.
func addCompletions(root *cobra.Command, app *App) {
	envs := func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return envNames(app), cobra.ShellCompDirectiveNoFileComp
	}
	byFlag := map[string]completeFunc{
		"env":        envs,
		"parent":     envs,
		"gpu":        fixed(gpuValues),
		"link-mode":  fixed(settingValues(workspace.SettingLinkMode)),
		"abi-policy": fixed(settingValues(workspace.SettingABIPolicy)),
		"mode":       fixed(settingValues(workspace.SettingResolverMode)),
		"python":     pythonSpecs,
		"shell":      fixed(shellNames()),
	}
	uninstallLayer := func(cmd *cobra.Command) workspace.Layers {
		if g, _ := cmd.Flags().GetBool("global"); g {
			return workspace.GlobalOnly
		}
		return workspace.LocalLayer
	}
	visible := func(*cobra.Command) workspace.Layers { return workspace.VisibleLayers }
	byCommand := map[string]completeFunc{
		"forge activate":  completeEnvArgs(app, 1),
		"forge uninstall": completePackages(app, uninstallLayer, 0),
		"forge inspect":   completePackages(app, visible, 1),
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for name, f := range byFlag {
			f := byPrefix(f)
			if c.LocalNonPersistentFlags().Lookup(name) == nil {
				continue
			}
			if _, ok := c.GetFlagCompletionFunc(name); !ok {
				if err := c.RegisterFlagCompletionFunc(name, f); err != nil {
					panic(fmt.Sprintf("completion of %s --%s: %v", c.CommandPath(), name, err))
				}
			}
		}
		if f, ok := byCommand[c.CommandPath()]; ok && c.ValidArgsFunction == nil {
			c.ValidArgsFunction = byPrefix(f)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	shellCompletionCmd(root)
}

// byPrefix keeps the candidates that start with the word being completed:
// bash's V2 script filters them again, but other callers of __complete
// (fish, powershell, tests) see only what fits.
func byPrefix(f completeFunc) completeFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		got, dir := f(cmd, args, toComplete)
		var out []string // a new slice: got may be a shared list (gpuValues)
		for _, v := range got {
			if strings.HasPrefix(v, toComplete) {
				out = append(out, v)
			}
		}
		return out, dir
	}
}

// shellCompletionCmd makes forge completion SHELL with a shell cobra has no
// script for a usage error naming the shells (cobra prints the help and
// exits 0, and a user's rc file silently gets nothing).
func shellCompletionCmd(root *cobra.Command) {
	c, _, err := root.Find([]string{"completion"})
	if err != nil || c == root {
		return
	}
	var shells []string
	for _, sub := range c.Commands() {
		shells = append(shells, sub.Name())
	}
	c.Args = cobra.ArbitraryArgs
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return usagef("forge completion needs a shell: %s", strings.Join(shells, ", "))
		}
		return usagef("forge completion %s: no completion for that shell; forge completes %s", args[0], strings.Join(shells, ", "))
	}
}
