package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/workspace"
)

func init() { register(newInstallCmd) }

type installOptions struct {
	env         string
	local       bool
	global      bool
	gpu         string
	policy      string
	linkMode    string
	hostProfile string
	enforce     bool
}

func newInstallCmd(app *App) *cobra.Command {
	var o installOptions
	cmd := &cobra.Command{
		Use:   "install WHEEL|NAME==VERSION... --env ENV",
		Short: "Ingest wheels into the store, check them against the host, and link them into an environment",
		Example: `  forge install ./dist/mypkg-1.0-py3-none-any.whl --env app
  forge install torch==2.4.0 --env app --gpu auto
  forge install ./wheels/*.whl --env base --link-mode hardlink`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInstall(cmd.Context(), app, args, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.env, "env", "", "environment to install into (required)")
	f.BoolVar(&o.local, "local", false, "into the environment's own (LOCAL) layer: the default")
	f.BoolVar(&o.global, "global", false, "into the GLOBAL layer every environment of this Python sees")
	f.StringVar(&o.gpu, "gpu", "auto", "flavour of NAME==VERSION: auto, cpu or cuXYZ")
	f.StringVar(&o.policy, "abi-policy", "", "strict_abi, warn_abi or allow_abi (default: the environment's abi_policy, else warn_abi)")
	f.StringVar(&o.linkMode, "link-mode", "", "symlink, hardlink or copy (default: the environment's link_mode, else symlink)")
	f.StringVar(&o.hostProfile, "host-profile", "", "check against this host profile instead of this machine")
	f.BoolVar(&o.enforce, "enforce", false, "a warn verdict also exits 3")
	cmd.MarkFlagRequired("env")
	return cmd
}

func runInstall(ctx context.Context, app *App, specs []string, o installOptions) error {
	if o.local && o.global {
		return usagef("--local and --global exclude each other")
	}
	if _, err := abi.ParseGPU(o.gpu); err != nil {
		return usagef("%v", err)
	}
	ws, err := openWorkspace(app, o.hostProfile)
	if err != nil {
		return err
	}
	defer ws.Close()
	ctx, prog := withProgress(ctx, app, ws)
	rep, err := ws.Install(ctx, workspace.InstallOptions{Env: o.env, Specs: specs, Global: o.global, LinkMode: o.linkMode, Policy: o.policy, GPU: o.gpu})
	prog.Finish()
	if rep == nil {
		return err
	}
	if perr := app.PrintOutcome(rep, err, func(w io.Writer) { printInstall(w, rep, app.Verbose) }); perr != nil {
		return perr
	}
	return installExit(app, err, o.enforce && rep.Warned())
}

// installExit is what install and pip install return once their report is
// printed: the install's error (marked reported under --json), else with
// --enforce a refusal when a package was admitted with warnings (warned).
func installExit(app *App, err error, warned bool) error {
	if err != nil {
		return reported(app, err)
	}
	if warned {
		return codeError{exitRefused, fmt.Errorf("--enforce: a package was admitted with warnings")}
	}
	return nil
}

// reported marks an error whose details are already in a printed --json
// report, so Main does not print a second JSON document.
func reported(app *App, err error) error {
	if err == nil || !app.JSON {
		return err
	}
	return codeError{exitCode(err), err}
}

func printInstall(w io.Writer, rep *workspace.InstallReport, verbose bool) {
	for _, p := range rep.Packages {
		state := "installed"
		switch {
		case p.Verdict == abi.Refuse:
			state = "refused"
		case p.AlreadyLinked:
			state = "already installed"
		case !p.Linked:
			state = "not installed" // the install failed or was refused before it was linked
		}
		reuse := "new in store"
		if p.Reused {
			reuse = "reused (" + p.ReuseKind + ")"
		}
		fmt.Fprintf(w, "%-9s %s %s  [%s, %s, %s, abi: %s]\n", state, p.Name, p.Version, p.Layer, p.LinkMode, reuse, p.Verdict)
		printFindings(w, "    ", p.Findings, verbose)
		for _, n := range p.Notes {
			if n != "" {
				fmt.Fprintf(w, "    note: %s\n", n)
			}
		}
	}
}
