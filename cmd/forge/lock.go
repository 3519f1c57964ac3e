package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/lockfile"
	"github.com/forge-ml/forge/workspace/reproduce"
)

func init() { register(newLockCmd) }

type lockOptions struct {
	env      string
	output   string
	profiles []string
	policy   string
}

// lockReport is what `forge lock` prints.
type lockReport struct {
	Env      string `json:"env"`
	File     string `json:"file"` // "-" for stdout
	Packages int    `json:"packages"`
	// WithoutPath are the packages whose wheel file forge cannot point at
	// (it was not hashed by forge at a path that still holds it).
	WithoutPath []string `json:"without_path"`
}

func newLockCmd(app *App) *cobra.Command {
	var o lockOptions
	cmd := &cobra.Command{
		Use:   "lock --env ENV [-o FILE] [--profiles FILE|DIR...]",
		Short: "Write a PEP 751 pylock.toml of the packages an environment imports",
		Long: `lock writes the environment's packages as a PEP 751 lock file (lock-version
1.0): the copy of every name its interpreter imports, from its own layer,
its parents' or GLOBAL, each with the wheel the store unpacked — file name,
sha256 and size, and its path when forge hashed that file where it still
is. requires-python and environments pin the environment's Python X.Y,
implementation, OS and machine.

forge's own facts go under [packages.tool.forge]: the layer, the glibc
floor, the CUDA major version and the GPU code of each wheel; with
--profiles (host profile files or directories of *.json), its verdict on
each profile (accept, warn or refuse, under --abi-policy, else the
environment's abi_policy).

A wheel forge cannot point at (one that forge pip built or downloaded into
a staging directory since removed, or a file moved since) is written with
its name and sha256 but no path or url, which PEP 751 asks for: the text
report counts them, --json lists them (without_path), and an installer
needs those wheels from an index or --find-links.

Nothing in the environment or the store changes. -o - writes to stdout.`,
		Example: `  forge lock --env app
  forge lock --env app -o locks/pylock.app.toml --profiles ci/fleet/
  forge lock --env app -o - | less`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLock(cmd.Context(), app, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.env, "env", "", "environment to lock (required)")
	f.StringVarP(&o.output, "output", "o", "pylock.toml", "file to write; - for stdout")
	f.StringSliceVar(&o.profiles, "profiles", nil, "host profile files or directories of *.json to record verdicts for")
	f.StringVar(&o.policy, "abi-policy", "", "policy of those verdicts: strict_abi, warn_abi or allow_abi (default: the environment's abi_policy)")
	cmd.MarkFlagRequired("env")
	cmd.RegisterFlagCompletionFunc("env", completeEnvNames(app))
	return cmd
}

func runLock(ctx context.Context, app *App, o lockOptions) error {
	if o.output == "-" && app.JSON {
		return usagef("-o - writes the lock to stdout; it does not combine with --json")
	}
	ws, err := openWorkspace(app, "")
	if err != nil {
		return err
	}
	defer ws.Close()
	l, err := reproduce.Lock(ctx, ws, reproduce.LockOptions{Env: o.env, Profiles: o.profiles, Policy: abi.Policy(o.policy)})
	if err != nil {
		return err
	}
	data, err := lockfile.Marshal(l)
	if err != nil {
		return err
	}
	rep := lockReport{Env: o.env, File: o.output, Packages: len(l.Packages), WithoutPath: []string{}}
	for _, p := range l.Packages {
		if p.Wheels[0].Path == "" && p.Wheels[0].URL == "" {
			rep.WithoutPath = append(rep.WithoutPath, p.Name)
		}
	}
	if o.output == "-" {
		_, err := app.Stdout.Write(data)
		return err
	}
	if err := abiWriteFile(o.output, data); err != nil {
		return fmt.Errorf("-o %s: %w", o.output, err)
	}
	return app.Print(rep, func(w io.Writer) {
		fmt.Fprintf(w, "locked %d package(s) of %s to %s\n", rep.Packages, rep.Env, rep.File)
		if n := len(rep.WithoutPath); n > 0 {
			fmt.Fprintf(w, "%d wheel(s) without a path (forge no longer knows where the file is): installers need them from an index or --find-links\n", n)
		}
	})
}
