package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/workspace"
)

type envTestOptions struct {
	name        string
	withoutPip  bool
	gpu         string
	policy      string
	linkMode    string
	hostProfile string
}

func newEnvTestCmd(app *App) *cobra.Command {
	var o envTestOptions
	cmd := &cobra.Command{
		Use:   "test ENV [WHEEL|NAME==VERSION...]",
		Short: "Make a test environment layered on ENV and install test tools into it",
		Long: `Make a test environment: a child of ENV (named ENV-test unless --name says
otherwise) whose own layer holds the test tools given, so ENV itself never
holds them. Running it again reuses the test environment and installs what is
given. The test environment sees ENV's packages as they are now: install,
upgrade or uninstall in ENV and the tests run against the change, with the test
tools left in place. forge env rm ENV is refused while the test environment
exists (forge env rm ENV-test first).`,
		Example: `  forge env test app ./wheels/pytest-*.whl ./wheels/pluggy-*.whl
  forge run --env app-test -- python -m pytest tests/
  forge env test app --name app-ci coverage==7.4.0`,
		Args: cobra.MinimumNArgs(1),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return envNames(app), cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveDefault
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEnvTest(cmd.Context(), app, args[0], args[1:], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.name, "name", "", "name of the test environment (default ENV-test)")
	f.BoolVar(&o.withoutPip, "without-pip", false, "when creating it, do not link the interpreter's bundled pip")
	f.StringVar(&o.gpu, "gpu", "auto", "flavour of NAME==VERSION: auto, cpu or cuXYZ")
	f.StringVar(&o.policy, "abi-policy", "", "strict_abi, warn_abi or allow_abi (default: the test environment's abi_policy, else warn_abi)")
	f.StringVar(&o.linkMode, "link-mode", "", "symlink, hardlink or copy (default: the test environment's link_mode, else symlink)")
	f.StringVar(&o.hostProfile, "host-profile", "", "check against this host profile instead of this machine")
	return cmd
}

func runEnvTest(ctx context.Context, app *App, project string, specs []string, o envTestOptions) error {
	if _, err := abi.ParseGPU(o.gpu); err != nil {
		return usagef("%v", err)
	}
	ws, err := openWorkspace(app, o.hostProfile)
	if err != nil {
		return err
	}
	defer ws.Close()
	rep, err := ws.TestEnv(ctx, workspace.TestEnvOptions{Project: project, Name: o.name, Specs: specs, WithoutPip: o.withoutPip,
		Policy: o.policy, LinkMode: o.linkMode, GPU: o.gpu})
	if rep == nil {
		return err
	}
	perr := app.PrintOutcome(rep, err, func(w io.Writer) {
		if rep.Created {
			fmt.Fprintf(w, "created %s (Python %s) at %s, layered on %s\n", rep.Env, rep.Python, rep.Path, rep.Project)
		} else {
			fmt.Fprintf(w, "using %s, layered on %s\n", rep.Env, rep.Project)
		}
		if rep.Install != nil {
			printInstall(w, rep.Install, app.Verbose)
		}
		if err == nil {
			fmt.Fprintf(w, "run the tests with: forge run --env %s -- python -m pytest\n", rep.Env)
		}
	})
	if perr != nil {
		return perr
	}
	return reported(app, err)
}
