package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The command reference (docs/commands.md) is generated from the cobra
// tree, so that it cannot drift from the commands:
//
//	go test ./cmd/forge -run TestCommandReference -update
//
// TestREADMECommandTable checks README.md's command table against the same
// tree and lists each command and flag the table lacks.

const referencePath = "../../docs/commands.md"

// documentedCommands are the commands a reference covers: every visible,
// runnable command but cobra's help and the per-shell completion scripts
// (one row, "forge completion SHELL"), in the tree's order.
func documentedCommands(root *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || (c.HasParent() && c.Parent().Name() == "completion") {
			return
		}
		if c.Runnable() && c != root {
			out = append(out, c)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return out
}

// ownFlags are a command's own flags (not the global ones, not --help).
func ownFlags(c *cobra.Command) []*pflag.Flag {
	var out []*pflag.Flag
	c.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" && !f.Hidden {
			out = append(out, f)
		}
	})
	return out
}

// commandReference renders the reference: global flags, then one section
// per command with its use line, description and flags.
func commandReference(root *cobra.Command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# forge command reference\n\n")
	fmt.Fprintf(&b, "Generated from the commands themselves by `go test ./cmd/forge -run TestCommandReference -update`; do not edit.\n\n")
	fmt.Fprintf(&b, "## Global flags\n\n")
	writeFlagTable(&b, flagsOf(root.PersistentFlags()))
	for _, c := range documentedCommands(root) {
		fmt.Fprintf(&b, "\n## %s\n\n%s.\n\n```\n%s\n```\n", c.CommandPath(), strings.TrimSuffix(c.Short, "."), c.UseLine())
		if c.Long != "" {
			fmt.Fprintf(&b, "\n```text\n%s\n```\n", strings.TrimRight(c.Long, "\n"))
		}
		if c.Example != "" {
			fmt.Fprintf(&b, "\nExamples:\n\n```\n%s\n```\n", strings.TrimRight(c.Example, "\n"))
		}
		if fs := ownFlags(c); len(fs) > 0 {
			b.WriteString("\n")
			writeFlagTable(&b, fs)
		}
	}
	return b.String()
}

func flagsOf(fs *pflag.FlagSet) []*pflag.Flag {
	var out []*pflag.Flag
	fs.VisitAll(func(f *pflag.Flag) { out = append(out, f) })
	return out
}

func writeFlagTable(w io.Writer, fs []*pflag.Flag) {
	fmt.Fprintln(w, "| flag | value | default | meaning |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, f := range fs {
		name := "`--" + f.Name + "`"
		if f.Shorthand != "" {
			name = "`-" + f.Shorthand + "`, " + name
		}
		value, usage := pflag.UnquoteUsage(f)
		def := f.DefValue
		if def == "" || def == "[]" || (value == "" && def == "false") {
			def = ""
		} else {
			def = "`" + def + "`"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", name, value, def, strings.ReplaceAll(usage, "|", `\|`))
	}
}

func TestCommandReference(t *testing.T) {
	app := &App{Stdout: io.Discard, Stderr: io.Discard}
	got := commandReference(newRoot(app))
	for _, want := range []string{"## forge probe", "`--host-profile`", "## forge pip install", "## forge python list", "--no-index"} {
		if !strings.Contains(got, want) {
			t.Errorf("reference lacks %q", want)
		}
	}
	if updateGoldens() {
		if err := os.MkdirAll(filepath.Dir(referencePath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(referencePath, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatalf("%v (go test ./cmd/forge -run TestCommandReference -update writes it)", err)
	}
	if string(have) != got {
		t.Errorf("docs/commands.md is stale: go test ./cmd/forge -run TestCommandReference -update")
	}
}

// readmeCommandCells returns the first cell of each row of README.md's
// command table: "`forge create ENV [--parent P] …`".
func readmeCommandCells(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var cells []string
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `forge ") {
			continue
		}
		// Cells are separated by | not escaped as \|.
		cell := regexp.MustCompile(`(^|[^\\])\|`).Split(strings.TrimPrefix(line, "|"), -1)[0]
		cells = append(cells, cell)
	}
	if len(cells) == 0 {
		t.Fatal("README.md has no command table rows (| `forge …)")
	}
	return cells
}

// missingFromTable lists, for each command, what README's command table
// lacks: the command itself, or each of its own flags absent from the
// rows that name it.
func missingFromTable(root *cobra.Command, cells []string) []string {
	var missing []string
	for _, c := range documentedCommands(root) {
		path := regexp.QuoteMeta(c.CommandPath())
		named := regexp.MustCompile("(`|, |/ )" + path + "(\\s|`|\\\\)")
		var rows []string
		for _, cell := range cells {
			if named.MatchString(cell) {
				rows = append(rows, cell)
			}
		}
		if len(rows) == 0 {
			missing = append(missing, c.CommandPath()+" (no row)")
			continue
		}
		text := strings.Join(rows, " ")
		for _, f := range ownFlags(c) {
			if !regexp.MustCompile(`--` + regexp.QuoteMeta(f.Name) + `([^a-z0-9-]|$)`).MatchString(text) {
				missing = append(missing, c.CommandPath()+" --"+f.Name)
			}
		}
	}
	return missing
}

// TestREADMECommandTable fails while README.md's command table lacks a
// command or a flag that the commands have; the message lists them all.
func TestREADMECommandTable(t *testing.T) {
	app := &App{Stdout: io.Discard, Stderr: io.Discard}
	missing := missingFromTable(newRoot(app), readmeCommandCells(t))
	if len(missing) > 0 {
		t.Errorf("README.md's command table lacks (docs/commands.md has them all):\n  %s", strings.Join(missing, "\n  "))
	}
}

// TestMissingFromTable checks the comparison itself on a small tree.
func TestMissingFromTable(t *testing.T) {
	root := &cobra.Command{Use: "forge"}
	run := func(*cobra.Command, []string) {}
	probe := &cobra.Command{Use: "probe", Run: run}
	probe.Flags().String("python", "", "")
	probe.Flags().String("host-profile", "", "")
	abi := &cobra.Command{Use: "abi"}
	check := &cobra.Command{Use: "check", Run: run}
	check.Flags().Bool("enforce", false, "")
	envs := &cobra.Command{Use: "envs", Run: run}
	abi.AddCommand(check)
	root.AddCommand(probe, abi, envs)
	cells := []string{"`forge probe [--python PATH\\|X.Y]`", "`forge abi check WHEEL [--enforce-all]`"}
	got := missingFromTable(root, cells)
	want := []string{"forge probe --host-profile", "forge abi check --enforce", "forge envs (no row)"}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("missing %q, want %q", got, want)
	}
}

// TestPipFlagsDocumented: the flags pip install declares for --help and the
// reference are exactly those parsePipInstallArgs takes (less the global
// ones and --help).
func TestPipFlagsDocumented(t *testing.T) {
	app := &App{Stdout: io.Discard, Stderr: io.Discard}
	c, _, err := newRoot(app).Find([]string{"pip", "install"})
	if err != nil {
		t.Fatal(err)
	}
	var declared, parsed []string
	for _, f := range ownFlags(c) {
		declared = append(declared, "--"+f.Name)
	}
	global := []string{"--home", "--json", "--quiet", "-q", "--verbose", "-v", "--help", "-h"}
	for name := range pipForgeFlags {
		if !slices.Contains(global, name) {
			parsed = append(parsed, name)
		}
	}
	slices.Sort(declared)
	slices.Sort(parsed)
	if !slices.Equal(declared, parsed) {
		t.Errorf("pip install declares %q, parses %q", declared, parsed)
	}
}
