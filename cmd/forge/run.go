package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

func init() { register(newRunCmd) }

func newRunCmd(app *App) *cobra.Command {
	var env string
	cmd := &cobra.Command{
		Use:     "run --env ENV -- CMD [ARGS...]",
		Short:   "Run a command inside an environment; exits with the command's status",
		Example: `  forge run --env app -- python -c "import mypkg"`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRun(cmd.Context(), app, env, args)
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "environment (required)")
	cmd.MarkFlagRequired("env")
	return cmd
}

func runRun(ctx context.Context, app *App, env string, argv []string) error {
	ws, err := openWorkspace(app, "")
	if err != nil {
		return err
	}
	a, err := ws.Activate(ctx, env)
	ws.Close()
	if err != nil {
		return err
	}
	environ := a.Environ(os.Environ())
	path, err := lookPathIn(argv[0], environ)
	if err != nil {
		return err
	}
	c := exec.CommandContext(ctx, path, argv[1:]...)
	c.Env = environ
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, app.Stdout, app.Stderr
	err = c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return codeError{ee.ExitCode(), fmt.Errorf("%s exited with status %d", argv[0], ee.ExitCode())}
	}
	return err
}

// lookPathIn finds a command on the PATH of environ (the environment's bin
// directories first), not on forge's own PATH.
func lookPathIn(name string, environ []string) (string, error) {
	if strings.ContainsRune(name, os.PathSeparator) {
		return exec.LookPath(name)
	}
	path := ""
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w in the environment's PATH", name, exec.ErrNotFound)
}
