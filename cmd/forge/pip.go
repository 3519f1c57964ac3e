package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/forge-ml/forge/workspace"
	"github.com/forge-ml/forge/workspace/pipshim"
)

func init() { register(newPipCmd) }

type pipInstallOptions struct {
	env         string
	policy      string
	python      string
	hostProfile string
	linkMode    string
	gpu         string
	enforce     bool
	help        bool
	// home, json, quiet and verbose are the global flags, which cobra does
	// not parse here: pip's own flags must reach pip untouched.
	home                 string
	json, quiet, verbose *bool
	pipArgs              []string
}

func newPipCmd(app *App) *cobra.Command {
	pip := &cobra.Command{
		Use:   "pip",
		Short: "pip's resolver feeding forge's store",
	}
	install := &cobra.Command{
		Use:   "install ARGS... --env ENV [--abi-policy P] [--enforce] [--python PATH] [--host-profile FILE]",
		Short: "Resolve with pip, then ingest, check and link into an environment; pinned store hits skip pip",
		Long: `forge pip install passes every argument it does not know to pip verbatim.
pip builds or downloads every wheel of the resolution into a staging
directory; forge ingests them, checks each against the host under the ABI
policy, and links them. When every requirement is pinned with == and the
store already holds an accepted build of it and of its dependencies, pip does
not run at all. Put pip arguments that look like forge flags after "--".

pip options commonly passed through (see pip install --help for all):
  -r, --requirement FILE   install from a requirements file
  -c, --constraint FILE    constrain versions with a constraints file
  --no-index               ignore the package index (use --find-links only)
  -f, --find-links DIR|URL look for wheels and archives here
  -i, --index-url URL      the package index to use
  --extra-index-url URL    a further index
  -U, --upgrade            upgrade named requirements to the newest allowed
  --pre                    allow pre-releases and development versions
  --no-deps                do not install dependencies
  --only-binary :all:      refuse source distributions
Requirements may carry extras and markers: 'pkg[dev]>=2; python_version<"3.12"'.`,
		Example: `  forge pip install -r requirements.txt --env app --no-index --find-links ./wheels
  forge pip install 'webkit[dev]>=2' --env app --abi-policy strict_abi
  forge pip install --env app -- -r requirements.txt`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := parsePipInstallArgs(args)
			if err != nil {
				return err
			}
			if o.help {
				return cmd.Help()
			}
			if err := o.applyGlobals(app); err != nil {
				return err
			}
			return runPipInstall(cmd.Context(), app, o)
		},
	}
	documentPipFlags(install)
	pip.AddCommand(install)
	return pip
}

// documentPipFlags declares forge's own flags of pip install on the cobra
// command, for --help, completion and the command reference only: cobra
// does not parse them (DisableFlagParsing, so that pip's flags reach pip
// untouched); parsePipInstallArgs does, from pipForgeFlags.
func documentPipFlags(c *cobra.Command) {
	f := c.Flags()
	var s string
	var b bool
	f.StringVar(&s, "env", "", "environment to install into (required)")
	f.StringVar(&s, "abi-policy", "", "strict_abi, warn_abi or allow_abi (default: the environment's abi_policy, else warn_abi)")
	f.StringVar(&s, "python", "", "interpreter whose pip resolves: a path or X.Y (default: the environment's)")
	f.StringVar(&s, "host-profile", "", "check against this host profile instead of this machine")
	f.StringVar(&s, "link-mode", "", "symlink, hardlink or copy (default: the environment's link_mode, else symlink)")
	f.StringVar(&s, "gpu", "", "CUDA flavour among several builds of a version: auto, cpu or cuXYZ")
	f.BoolVar(&b, "enforce", false, "a warn verdict also exits 3")
}

// pipForgeFlags are the flags forge takes out of pip install's arguments;
// true: the flag takes a value.
var pipForgeFlags = map[string]bool{
	"--env": true, "--abi-policy": true, "--python": true, "--host-profile": true, "--home": true,
	"--link-mode": true, "--gpu": true,
	"--enforce": false, "--json": false, "--quiet": false, "-q": false, "--verbose": false, "-v": false,
	"--help": false, "-h": false,
}

// parsePipInstallArgs takes forge's own flags out of args and leaves the
// rest, in order, for pip; everything after "--" is pip's.
func parsePipInstallArgs(args []string) (pipInstallOptions, error) {
	var o pipInstallOptions
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			o.pipArgs = append(o.pipArgs, args[i+1:]...)
			break
		}
		name, value, hasValue := a, "", false
		if strings.HasPrefix(a, "--") {
			name, value, hasValue = strings.Cut(a, "=")
		}
		takes, ours := pipForgeFlags[name]
		if !ours {
			o.pipArgs = append(o.pipArgs, a)
			continue
		}
		if takes && !hasValue {
			if i+1 >= len(args) {
				return o, usagef("flag needs an argument: %s", name)
			}
			i++
			value = args[i]
		}
		b := true
		if !takes && hasValue {
			var err error
			if b, err = strconv.ParseBool(value); err != nil {
				return o, usagef("invalid argument %q for %s: %v", value, name, err)
			}
		}
		switch name {
		case "--env":
			o.env = value
		case "--abi-policy":
			o.policy = value
		case "--python":
			o.python = value
		case "--host-profile":
			o.hostProfile = value
		case "--home":
			o.home = value
		case "--link-mode":
			o.linkMode = value
		case "--gpu":
			o.gpu = value
		case "--enforce":
			o.enforce = b
		case "--json":
			o.json = &b
		case "--quiet", "-q":
			o.quiet = &b
		case "--verbose", "-v":
			o.verbose = &b
		case "--help", "-h":
			o.help = b
		}
	}
	return o, nil
}

// applyGlobals sets the global flags given after "pip install".
func (o pipInstallOptions) applyGlobals(app *App) error {
	if o.home != "" {
		abs, err := filepath.Abs(o.home)
		if err != nil {
			return err
		}
		app.Home = abs
	}
	for _, f := range []struct {
		v   *bool
		dst *bool
	}{{o.json, &app.JSON}, {o.quiet, &app.Quiet}, {o.verbose, &app.Verbose}} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	return nil
}

// pipInstallJSON is the --json document: the report, and on failure the
// error and pip's output.
type pipInstallJSON struct {
	*pipshim.InstallReport
	Error     string `json:"error,omitempty"`
	ExitCode  int    `json:"exit_code,omitempty"`
	PipOutput string `json:"pip_output,omitempty"`
}

func runPipInstall(ctx context.Context, app *App, o pipInstallOptions) error {
	if o.env == "" {
		return usagef(`required flag(s) "env" not set`)
	}
	if len(o.pipArgs) == 0 {
		return usagef("give requirements or -r FILE for pip")
	}
	ws, err := openWorkspace(app, o.hostProfile)
	if err != nil {
		return err
	}
	defer ws.Close()
	opts := pipshim.InstallOptions{Env: o.env, Args: o.pipArgs, Python: o.python, Policy: o.policy, LinkMode: o.linkMode, GPU: o.gpu}
	if app.Verbose && !app.Quiet {
		opts.PipOutput = app.Stderr
	}
	ctx, prog := withProgress(ctx, app, ws)
	rep, err := pipshim.Install(ctx, ws, opts)
	prog.Finish()
	var pe *workspace.PipError
	if errors.As(err, &pe) && opts.PipOutput == nil && !app.JSON {
		// pip's own words, verbatim; forge's one-line summary follows.
		io.WriteString(app.Stderr, pe.Output)
	}
	if rep == nil {
		return err
	}
	doc := pipInstallJSON{InstallReport: rep}
	if err != nil {
		doc.Error, doc.ExitCode = err.Error(), exitCode(err)
		if pe != nil {
			doc.PipOutput = pe.Output
		}
	}
	if perr := app.Print(doc, func(w io.Writer) { printPipInstall(w, rep, app.Verbose) }); perr != nil {
		return perr
	}
	return installExit(app, err, o.enforce && rep.Warned())
}

func printPipInstall(w io.Writer, rep *pipshim.InstallReport, verbose bool) {
	if rep.PipRan {
		fmt.Fprintf(w, "pip: ran (%s)\n", rep.PipReason)
	} else {
		fmt.Fprintln(w, "pip: not run (every requirement pinned and in the store)")
	}
	printInstall(w, rep.Install(), verbose)
}
