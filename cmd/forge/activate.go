package main

import (
	"context"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/forge-ml/forge/linker"
)

func init() { register(newActivateCmd) }

type activateOptions struct {
	shell string
}

func newActivateCmd(app *App) *cobra.Command {
	var o activateOptions
	cmd := &cobra.Command{
		Use:   "activate ENV [--shell bash|zsh|fish|sh]",
		Short: "Print a script that enters an environment (PATH, layered PYTHONPATH, prompt) and defines deactivate",
		Long: `forge activate prints a script for the shell to evaluate. It sets
VIRTUAL_ENV, puts the environment's bin on PATH followed by its parents'
(nearest first) and GLOBAL's, sets PYTHONPATH to every layer's
site-packages and PYTHONPYCACHEPREFIX to the environment's bytecode cache,
unsets PYTHONHOME, and prefixes the prompt with "(ENV) " as a venv does
(not when VIRTUAL_ENV_DISABLE_PROMPT is set; VIRTUAL_ENV_PROMPT holds it).
It defines deactivate, which puts back every variable and the prompt as
they were ("deactivate nondestructive" keeps the function). Activating
another environment first deactivates the current one.

The shell is --shell, else the one $SHELL names (bash, zsh, fish), else
POSIX sh. The environment's own ENV/bin/activate (bash, zsh, sh) and
ENV/bin/activate.fish do the same, except PYTHONPATH and
PYTHONPYCACHEPREFIX, which its own python does not need.`,
		Example: `  eval "$(forge activate app)"            # bash, zsh
  forge activate app --shell fish | source  # fish
  deactivate                                # leave it
  forge activate app --json                 # the variables, for tools`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runActivate(cmd.Context(), app, args[0], o)
		},
	}
	cmd.Flags().StringVar(&o.shell, "shell", "", "bash, zsh, fish or sh (default: from $SHELL, else sh)")
	return cmd
}

func runActivate(ctx context.Context, app *App, name string, o activateOptions) error {
	sh := linker.ShellOf(os.Getenv("SHELL"))
	if o.shell != "" {
		s, err := linker.ParseShell(o.shell)
		if err != nil {
			return usagef("--shell: %v", err)
		}
		sh = s
	}
	ws, err := openWorkspace(app, "")
	if err != nil {
		return err
	}
	defer ws.Close()
	a, err := ws.Activate(ctx, name)
	if err != nil {
		return err
	}
	// The script is the result: printed even with --quiet.
	if app.JSON {
		return app.Print(a, nil)
	}
	_, err = io.WriteString(app.Stdout, a.Script(sh))
	return err
}
