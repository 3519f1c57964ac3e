package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/resolver"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
)

// Exit codes, a contract with scripts (README's table): errors map to them
// by type in exitCode, never by message.
const (
	exitOK        = 0
	exitError     = 1
	exitUsage     = 2
	exitRefused   = 3
	exitIntegrity = 4
)

// App carries the global flags and the IO streams every command uses.
type App struct {
	Home    string
	JSON    bool
	Quiet   bool
	Verbose bool
	Stdout  io.Writer
	Stderr  io.Writer

	// started is set once cobra has found the command and parsed its
	// flags and arguments, when forge's own code begins.
	started bool
}

// Infof prints progress to stderr unless --quiet.
func (a *App) Infof(format string, args ...any) {
	if !a.Quiet {
		fmt.Fprintf(a.Stderr, format+"\n", args...)
	}
}

// Debugf prints detail to stderr with --verbose.
func (a *App) Debugf(format string, args ...any) {
	if a.Verbose && !a.Quiet {
		fmt.Fprintf(a.Stderr, format+"\n", args...)
	}
}

// Print writes v as one JSON document with --json, else calls text.
func (a *App) Print(v any, text func(w io.Writer)) error {
	if a.JSON {
		enc := json.NewEncoder(a.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	if !a.Quiet || text == nil {
		if text != nil {
			text(a.Stdout)
		}
	}
	return nil
}

// PrintOutcome prints an operation's report, and with --json the error it
// ended with beside the report's own fields: "error" (the message) and
// "exit_code", in that order after them. Without an error it is Print.
func (a *App) PrintOutcome(rep any, err error, text func(w io.Writer)) error {
	if !a.JSON || err == nil {
		return a.Print(rep, text)
	}
	doc, merr := json.Marshal(rep)
	if merr != nil {
		return merr
	}
	tail, merr := json.Marshal(struct {
		Error    string `json:"error"`
		ExitCode int    `json:"exit_code"`
	}{err.Error(), exitCode(err)})
	if merr != nil {
		return merr
	}
	if len(doc) > 2 { // {"a":1} + {"error":…} → {"a":1,"error":…}
		tail = append(append(doc[:len(doc)-1:len(doc)-1], ','), tail[1:]...)
	}
	return a.Print(json.RawMessage(tail), text)
}

// commandFactories is filled by each verb's file (one file per verb).
var commandFactories []func(*App) *cobra.Command

func register(f func(*App) *cobra.Command) { commandFactories = append(commandFactories, f) }

// codeError carries an explicit exit code (e.g. --enforce with only warnings).
type codeError struct {
	code int
	err  error
}

func (c codeError) Error() string { return c.err.Error() }
func (c codeError) Unwrap() error { return c.err }

func newRoot(app *App) *cobra.Command {
	root := &cobra.Command{
		Use:           "forge",
		Short:         "Layered Python environments over one shared wheel store, with a GPU/CUDA-aware ABI engine",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			app.started = true
			if err := checkRequiredFlags(cmd); err != nil {
				return err
			}
			if app.Home == "" {
				app.Home = os.Getenv("FORGE_HOME")
			}
			if app.Home == "" {
				h, err := os.UserHomeDir()
				if err != nil {
					return err
				}
				app.Home = filepath.Join(h, ".forge")
			}
			abs, err := filepath.Abs(app.Home)
			if err != nil {
				return err
			}
			app.Home = abs
			return nil
		},
	}
	root.SetOut(app.Stdout)
	root.SetErr(app.Stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&app.Home, "home", "", "forge home directory (default $FORGE_HOME or ~/.forge)")
	pf.BoolVar(&app.JSON, "json", false, "print one JSON document on stdout")
	pf.BoolVarP(&app.Quiet, "quiet", "q", false, "print only errors and results")
	pf.BoolVarP(&app.Verbose, "verbose", "v", false, "print more detail on stderr")
	for _, f := range commandFactories {
		root.AddCommand(f(app))
	}
	markUsage(root)
	addCompletions(root, app)
	return root
}

// Main runs forge with args and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	app := &App{Stdout: stdout, Stderr: stderr}
	root := newRoot(app)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	if !app.started && !errors.Is(err, workspace.ErrUsage) {
		// cobra failed before any of forge's code ran, in finding the
		// command: an unknown command (its other errors are typed by
		// markUsage).
		err = usageError{err}
	}
	code := exitCode(err)
	if (app.JSON || askedForJSON(args)) && code != exitOK {
		// Commands that already printed a JSON report return codeError; others
		// still owe stdout one document.
		var ce codeError
		if !errors.As(err, &ce) {
			json.NewEncoder(stdout).Encode(map[string]any{"error": err.Error(), "exit_code": code})
		}
	}
	fmt.Fprintf(stderr, "forge: %v\n", err)
	return code
}

// exitCode maps typed errors to exit codes; the one place that does.
func exitCode(err error) int {
	var ce codeError
	switch {
	case errors.As(err, &ce):
		return ce.code
	case errors.Is(err, workspace.ErrUsage): // usageError too
		return exitUsage
	case errors.Is(err, store.ErrCorrupt):
		return exitIntegrity
	case errors.Is(err, abi.ErrIncompatible), errors.Is(err, resolver.ErrConflict):
		return exitRefused
	}
	return exitError
}

// askedForJSON finds --json among arguments cobra rejected before parsing
// flags (an unknown command), so that the error is still one JSON document.
func askedForJSON(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "--json" || a == "--json=true" {
			return true
		}
	}
	return false
}
