package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/internal/atomicfile"
	"github.com/forge-ml/forge/workspace"
	"github.com/forge-ml/forge/workspace/abireport"
)

func init() { register(newABICmd) }

// abiCheckOptions are the flags of `forge abi check`.
type abiCheckOptions struct {
	HostProfiles []string
	Policy       string
	Python       string
	Enforce      bool
}

// abiMatrixOptions are the flags of `forge abi matrix`.
type abiMatrixOptions struct {
	Env      string
	Wheels   string
	Lock     string
	Profiles []string
	JUnit    string
	Policy   string
	Enforce  bool
}

func newABICmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "abi",
		Short: "Check wheels against hosts: fingerprints and verdicts per host profile",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("forge abi needs a subcommand: check or matrix")
		},
	}
	cmd.AddCommand(newABICheckCmd(app), newABIMatrixCmd(app))
	return cmd
}

func newABICheckCmd(app *App) *cobra.Command {
	var o abiCheckOptions
	cmd := &cobra.Command{
		Use:   "check WHEEL|NAME[==VERSION]... [--host-profile FILE|DIR]... [--abi-policy P]",
		Short: "Fingerprint wheels (files or store entries) and give a verdict per host",
		Long: `check reads each wheel file (nothing is written to the store), or the
fingerprint stored with every store entry of NAME (or NAME==VERSION: all its
builds and CUDA flavours), and decides it for each --host-profile (a file, or
a directory of *.json), else for this machine, under --abi-policy (default
warn_abi). The wheels checked together count as installed together: the
libraries one ships are not missing for another.

Exit 3 when a verdict is refuse (or warn, with --enforce); 4 when a wheel
file is damaged.`,
		Example: `  forge abi check dist/mypkg-1.0-cp311-cp311-manylinux_2_17_x86_64.whl
  forge abi check torch==2.4.0 --host-profile fleet/ --json
  forge abi check mypkg --host-profile a100.json --host-profile v100.json --abi-policy strict_abi`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runABICheck(cmd.Context(), app, args, o)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.HostProfiles, "host-profile", nil, "host profile file or directory of *.json to check against (repeatable; default: this machine)")
	f.StringVar(&o.Policy, "abi-policy", "", "strict_abi, warn_abi or allow_abi (default warn_abi)")
	f.StringVar(&o.Python, "python", "", "without --host-profile: the interpreter this machine is probed with (path or X.Y)")
	f.BoolVar(&o.Enforce, "enforce", false, "a warn verdict also exits 3")
	return cmd
}

func newABIMatrixCmd(app *App) *cobra.Command {
	var o abiMatrixOptions
	cmd := &cobra.Command{
		Use:   "matrix (--env ENV | --wheels DIR | --lock FILE) --profiles FILE|DIR... [--junit FILE]",
		Short: "A table of verdicts, wheels × host profiles, for CI",
		Long: `matrix decides every package an environment sees (--env: its own, its
parents' and GLOBAL's, from the fingerprints stored at ingest) or every
*.whl in a directory (--wheels: read on the spot, counted as installed
together) or every wheel of a PEP 751 lock file (--lock: pylock.toml written
by forge lock, pip lock or uv; each wheel from the store entry with its
sha256) for each host profile (--profiles: files or directories of *.json,
repeatable or comma-separated). Each profile describes its target host
entirely: its Python tags, libc, CPU and GPUs. The policy is --abi-policy,
else the environment's abi_policy, else warn_abi.

--junit FILE also writes JUnit XML: one testsuite per profile, one testcase
per wheel; a refused cell (a warned one too, with --enforce) is a failure.

A locked wheel that is not in the store but whose path (or file: URL) is a
local file is ingested first, if its sha256 is the lock's; a locked wheel
forge has no way to read is listed as not checkable (a JUnit failure).

Exit 3 when a cell is refuse (or warn, with --enforce); 1 when a locked
wheel is not checkable; 4 when a locked wheel's file does not have the
lock's sha256 or size.`,
		Example: `  forge abi matrix --wheels dist/ --profiles ci/fleet/ --junit abi.xml
  forge abi matrix --lock pylock.toml --profiles ci/fleet/ --junit abi.xml
  forge abi matrix --env app --profiles a100.json,v100.json --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runABIMatrix(cmd.Context(), app, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Env, "env", "", "the packages this environment sees")
	f.StringVar(&o.Wheels, "wheels", "", "every *.whl file in this directory")
	f.StringVar(&o.Lock, "lock", "", "every wheel of this PEP 751 lock file (pylock.toml)")
	f.StringSliceVar(&o.Profiles, "profiles", nil, "host profile files or directories of *.json (required)")
	f.StringVar(&o.JUnit, "junit", "", "also write the matrix as JUnit XML to this file")
	f.StringVar(&o.Policy, "abi-policy", "", "strict_abi, warn_abi or allow_abi (default: the environment's abi_policy, else warn_abi)")
	f.BoolVar(&o.Enforce, "enforce", false, "a warn verdict also exits 3 (and is a JUnit failure)")
	cmd.MarkFlagRequired("profiles")
	return cmd
}

func runABICheck(ctx context.Context, app *App, targets []string, o abiCheckOptions) error {
	if len(o.HostProfiles) > 0 && o.Python != "" {
		return usagef("--python describes this machine; it does not combine with --host-profile")
	}
	var hosts []*abi.Host
	if len(o.HostProfiles) > 0 {
		var err error
		if hosts, err = workspace.LoadProfiles(o.HostProfiles); err != nil {
			return err
		}
	}
	ws, err := openWorkspace(app, "")
	if err != nil {
		return err
	}
	defer ws.Close()
	rep, err := abireport.Check(ctx, ws, abireport.CheckOptions{Targets: targets, Hosts: hosts, Python: o.Python, Policy: abi.Policy(o.Policy)})
	if err != nil {
		return err
	}
	if err := app.Print(rep, func(w io.Writer) { printABICheck(w, rep, app.Verbose) }); err != nil {
		return err
	}
	return abiExit(app, rep.Summary, o.Enforce, "verdict")
}

// abiExit is the outcome of a printed check or matrix: exit 3 on a refusal,
// or on a warning with --enforce.
func abiExit(app *App, s abireport.Summary, enforce bool, what string) error {
	switch {
	case s.Refuse > 0:
		return reported(app, fmt.Errorf("%d %s(s) refuse: %w", s.Refuse, what, abi.ErrIncompatible))
	case enforce && s.Warn > 0:
		return codeError{exitRefused, fmt.Errorf("--enforce: %d %s(s) warn", s.Warn, what)}
	}
	return nil
}

func abiVerdictWord(v abi.Outcome) string {
	if v == abi.Refuse {
		return "REFUSE"
	}
	return string(v)
}

func printABICheck(w io.Writer, rep *abireport.CheckReport, verbose bool) {
	for i, wh := range rep.Wheels {
		if i > 0 {
			fmt.Fprintln(w)
		}
		src := filepath.Base(wh.File)
		if wh.Entry != "" {
			src = "store entry " + abiShortSHA(wh.Entry)
		}
		fmt.Fprintf(w, "%s %s  (%s)\n", wh.Name, wh.Version, src)
		fmt.Fprintf(w, "  tags:     %s\n", strings.Join(wh.Tags, ", "))
		fmt.Fprintf(w, "  requires: %s\n", abiDescribeRequires(wh.Requires))
		width := 0
		for _, v := range wh.Verdicts {
			width = max(width, len(v.Host))
		}
		for _, v := range wh.Verdicts {
			codes := workspace.Codes(v.Findings)
			fmt.Fprintf(w, "  %-*s  %-6s", width, v.Host, abiVerdictWord(v.Verdict))
			if codes != "" {
				fmt.Fprintf(w, "  %s", codes)
			}
			fmt.Fprintln(w)
			printFindings(w, "      ", v.Findings, verbose)
		}
	}
	s := rep.Summary
	fmt.Fprintf(w, "\n%d wheel(s) × %d host(s) under %s: %d accept, %d warn, %d refuse\n",
		len(rep.Wheels), len(rep.Hosts), rep.Policy, s.Accept, s.Warn, s.Refuse)
}

func abiShortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// abiDescribeRequires is the one-line text form of what a fingerprint needs.
func abiDescribeRequires(fp *abi.Fingerprint) string {
	if fp == nil {
		return "unknown"
	}
	var parts []string
	if len(fp.Machines) > 0 {
		parts = append(parts, strings.Join(fp.Machines, "+"))
	}
	switch {
	case fp.LibcFamily == "glibc" && fp.GlibcFloor != "":
		parts = append(parts, "glibc >= "+fp.GlibcFloor)
	case fp.LibcFamily != "":
		parts = append(parts, fp.LibcFamily)
	case fp.GlibcFloor != "":
		parts = append(parts, "glibc >= "+fp.GlibcFloor)
	}
	if fp.GlibcxxFloor != "" {
		parts = append(parts, "GLIBCXX_"+fp.GlibcxxFloor)
	}
	if fp.CxxabiFloor != "" {
		parts = append(parts, "CXXABI_"+fp.CxxabiFloor)
	}
	if fp.ISALevel > 1 {
		parts = append(parts, fmt.Sprintf("x86-64-v%d", fp.ISALevel))
	}
	if n, src := fp.CUDAMajor(); n > 0 {
		parts = append(parts, fmt.Sprintf("CUDA %d (%s)", n, src))
	}
	if fp.LinksLibcuda {
		parts = append(parts, "an NVIDIA driver (libcuda.so.1)")
	}
	if len(fp.GPUCode) > 0 {
		var code []string
		for _, e := range fp.GPUCode {
			code = append(code, e.String())
		}
		parts = append(parts, "GPU code "+strings.Join(code, " "))
	}
	var libs []string
	for _, n := range fp.Needed {
		if !abi.IsBaselineLibrary(n) {
			libs = append(libs, n)
		}
	}
	if len(libs) > 0 {
		parts = append(parts, "libraries "+strings.Join(libs, " "))
	}
	if len(fp.Problems) > 0 {
		parts = append(parts, fmt.Sprintf("%d unreadable member(s)", len(fp.Problems)))
	}
	if len(parts) == 0 {
		if len(fp.ELFs) == 0 {
			return "no native code"
		}
		return "nothing beyond its tags"
	}
	return strings.Join(parts, ", ")
}

func runABIMatrix(ctx context.Context, app *App, o abiMatrixOptions) error {
	if n := len(slices.DeleteFunc([]string{o.Env, o.Wheels, o.Lock}, func(s string) bool { return s == "" })); n != 1 {
		return usagef("give one of --env ENV, --wheels DIR or --lock FILE")
	}
	ws, err := openWorkspace(app, "")
	if err != nil {
		return err
	}
	defer ws.Close()
	rep, err := abireport.Matrix(ctx, ws, abireport.MatrixOptions{Env: o.Env, WheelsDir: o.Wheels, Lock: o.Lock, Profiles: o.Profiles, Policy: abi.Policy(o.Policy)})
	if err != nil {
		return err
	}
	if o.JUnit != "" {
		var buf bytes.Buffer
		if err := rep.WriteJUnit(&buf, o.Enforce); err != nil {
			return err
		}
		if err := abiWriteFile(o.JUnit, buf.Bytes()); err != nil {
			return fmt.Errorf("--junit: %w", err)
		}
	}
	if err := app.Print(rep, func(w io.Writer) { printABIMatrix(w, rep) }); err != nil {
		return err
	}
	// An incomplete matrix says so first: a CI gate must not pass on the
	// wheels it could not see.
	if n := len(rep.NotCheckable); n > 0 {
		names := make([]string, n)
		for i, nc := range rep.NotCheckable {
			names[i] = nc.Name + " " + nc.Version + " (" + nc.Wheel + ")"
		}
		return reported(app, fmt.Errorf("%d locked wheel(s) not checkable: %s: %w", n, strings.Join(names, ", "), abireport.ErrNotCheckable))
	}
	return abiExit(app, rep.Summary, o.Enforce, "cell")
}

// abiWriteFile replaces path with data at once, so a CI reader never sees
// half a report. Durable: these are files the user asked for (a JUnit
// report, a lock file, an export), which forge cannot rebuild.
func abiWriteFile(path string, data []byte) error {
	return atomicfile.Write(path, data, 0o644, atomicfile.Durable)
}

func abiRowLabel(r abireport.MatrixRow) string {
	s := r.Name + " " + r.Version
	if r.Layer != "" {
		s += " [" + r.Layer + "]"
	}
	if r.Entry != "" && r.File != "" { // a locked wheel: a package may lock one per platform
		s += " " + r.File
	}
	return s
}

func printABIMatrix(w io.Writer, rep *abireport.MatrixReport) {
	switch {
	case rep.Env != "":
		fmt.Fprintf(w, "environment %s under %s\n", rep.Env, rep.Policy)
	case rep.Lock != "":
		fmt.Fprintf(w, "lock file %s under %s\n", rep.Lock, rep.Policy)
	default:
		fmt.Fprintf(w, "wheels in %s under %s\n", rep.WheelsDir, rep.Policy)
	}
	widths := make([]int, len(rep.Profiles)+1)
	widths[0] = len("WHEEL")
	for _, r := range rep.Rows {
		widths[0] = max(widths[0], len(abiRowLabel(r)))
	}
	for i, p := range rep.Profiles {
		widths[i+1] = max(len(p), len("REFUSE"))
	}
	line := func(cells []string) {
		var b strings.Builder
		for i, c := range cells {
			if i == len(cells)-1 {
				b.WriteString(c)
				break
			}
			fmt.Fprintf(&b, "%-*s  ", widths[i], c)
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	line(append([]string{"WHEEL"}, rep.Profiles...))
	for _, r := range rep.Rows {
		cells := []string{abiRowLabel(r)}
		for _, c := range r.Cells {
			cells = append(cells, abiVerdictWord(c.Verdict))
		}
		line(cells)
	}
	var notes []string
	for _, r := range rep.Rows {
		for _, c := range r.Cells {
			if c.Verdict != abi.Accept {
				notes = append(notes, fmt.Sprintf("  %s on %s: %s (%s)", abiRowLabel(r), c.Host, abiVerdictWord(c.Verdict), strings.Join(c.Codes, ", ")))
			}
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "\nnot accepted (forge abi check WHEEL --host-profile FILE gives the findings):")
		for _, n := range notes {
			fmt.Fprintln(w, n)
		}
	}
	if len(rep.NotCheckable) > 0 {
		fmt.Fprintln(w, "\nnot checkable (no verdict):")
		for _, nc := range rep.NotCheckable {
			fmt.Fprintf(w, "  %s %s (%s): %s\n", nc.Name, nc.Version, nc.Wheel, nc.Reason)
		}
	}
	s := rep.Summary
	fmt.Fprintf(w, "\n%d wheel(s) × %d profile(s): %d accept, %d warn, %d refuse\n",
		len(rep.Rows), len(rep.Profiles), s.Accept, s.Warn, s.Refuse)
}
