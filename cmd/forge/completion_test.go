package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCompletionScripts(t *testing.T) {
	tests := []struct {
		shell string
		want  []string
	}{
		{"bash", []string{"# bash completion V2 for forge", "__start_forge"}},
		{"zsh", []string{"#compdef forge", "_forge"}},
		{"fish", []string{"# fish completion for forge", "complete -c forge"}},
		{"powershell", []string{"Register-ArgumentCompleter", "forge"}},
	}
	for _, tt := range tests {
		t.Run(tt.shell, func(t *testing.T) {
			home := filepath.Join(t.TempDir(), "never-created")
			var out, errOut bytes.Buffer
			if code := Main([]string{"--home", home, "completion", tt.shell}, &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("%s script lacks %q", tt.shell, w)
				}
			}
			if _, err := os.Stat(home); err == nil {
				t.Errorf("printing a completion script created %s", home)
			}
		})
	}
}

// completions runs cobra's hidden __complete command the way the shell
// scripts do and returns the candidates (descriptions dropped) and the
// directive line.
func completions(t *testing.T, home string, line ...string) (got []string, directive string) {
	t.Helper()
	var out, errOut bytes.Buffer
	args := append([]string{"__complete", "--home", home}, line...)
	if code := Main(args, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if strings.HasPrefix(l, ":") {
			directive = l
			continue
		}
		if l == "" || strings.HasPrefix(l, "Completion ended") {
			continue
		}
		name, _, _ := strings.Cut(l, "\t") // drop descriptions
		got = append(got, name)
	}
	return got, directive
}

// TestDynamicCompletion completes flags and arguments against a real forge
// home (newLayeredCLI): app on base, six in GLOBAL/3.12.
func TestDynamicCompletion(t *testing.T) {
	s := newLayeredCLI(t)
	t.Setenv("FORGE_HOME", s.home)
	envs := []string{"app", "base"}
	tests := []struct {
		name string
		line []string // the command line being completed; the last word is the prefix
		want []string // exactly these, in any order
		has  []string // at least these
	}{
		{name: "env names for env get", line: []string{"env", "get", ""}, want: envs},
		{name: "env names for env set", line: []string{"env", "set", ""}, want: envs},
		{name: "setting keys", line: []string{"env", "set", "app", ""}, want: []string{"abi_policy", "auto_snapshots", "distutils_shim", "link_mode", "resolver_mode"}},
		{name: "setting values", line: []string{"env", "set", "app", "link_mode", ""}, want: []string{"symlink", "hardlink", "copy"}},
		{name: "env rm", line: []string{"env", "rm", ""}, want: envs},
		{name: "env rm takes one", line: []string{"env", "rm", "app", ""}},
		{name: "subcommands of env", line: []string{"env", ""}, has: []string{"get", "rm", "set", "unset"}},
		{name: "activate", line: []string{"activate", ""}, want: envs},
		{name: "activate prefix", line: []string{"activate", "a"}, want: []string{"app"}},
		{name: "run --env", line: []string{"run", "--env", ""}, want: envs},
		{name: "install --env", line: []string{"install", "--env", ""}, want: envs},
		{name: "create --parent", line: []string{"create", "x", "--parent", ""}, want: envs},
		{name: "doctor --env", line: []string{"doctor", "--abi", "--env", ""}, want: envs},
		{name: "inspect --env", line: []string{"inspect", "numpy", "--env", ""}, want: envs},
		{name: "uninstall: LOCAL packages", line: []string{"uninstall", "--env", "app", ""}, want: []string{"colorama", "numpy"}},
		{name: "uninstall: names already given left out", line: []string{"uninstall", "--env", "app", "numpy", ""}, want: []string{"colorama"}},
		{name: "uninstall --global: GLOBAL packages", line: []string{"uninstall", "--env", "app", "--global", ""}, want: []string{"six"}},
		{name: "uninstall without --env offers --env", line: []string{"uninstall", ""}, want: []string{"--env"}},
		{name: "inspect: every visible package", line: []string{"inspect", "--env", "app", ""}, want: []string{"colorama", "extras-demo", "numpy", "sciplot", "six"}},
		{name: "inspect takes one", line: []string{"inspect", "--env", "app", "numpy", ""}},
		{name: "install --gpu", line: []string{"install", "--gpu", ""}, want: gpuValues},
		{name: "install --gpu prefix", line: []string{"install", "--gpu", "cu12"}, want: []string{"cu121", "cu124", "cu126", "cu128"}},
		{name: "install --link-mode", line: []string{"install", "--link-mode", ""}, want: []string{"symlink", "hardlink", "copy"}},
		{name: "install --abi-policy", line: []string{"install", "--abi-policy", ""}, want: []string{"strict_abi", "warn_abi", "allow_abi"}},
		{name: "abi check --abi-policy", line: []string{"abi", "check", "--abi-policy", ""}, want: []string{"strict_abi", "warn_abi", "allow_abi"}},
		{name: "tree --mode", line: []string{"tree", "--mode", ""}, want: []string{"loose", "warn", "strict"}},
		{name: "inspect --mode", line: []string{"inspect", "--mode", ""}, want: []string{"loose", "warn", "strict"}},
		{name: "create --python", line: []string{"create", "x", "--python", ""}, has: []string{"3.12"}},
		{name: "probe --python", line: []string{"probe", "--python", ""}, has: []string{"3.12"}},
		{name: "completion shells", line: []string{"completion", ""}, want: []string{"bash", "fish", "powershell", "zsh"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, directive := completions(t, s.home, tt.line...)
			if tt.want != nil || tt.has == nil {
				if !sameSet(got, tt.want) {
					t.Errorf("completions %v, want %v", got, tt.want)
				}
			}
			for _, w := range tt.has {
				if !slices.Contains(got, w) {
					t.Errorf("completions %v lack %q", got, w)
				}
			}
			if directive != ":4" { // ShellCompDirectiveNoFileComp
				t.Errorf("directive %q, want :4 (no file completion)", directive)
			}
		})
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestCompletionCreatesNoHome: completing against a forge home that does
// not exist answers nothing and leaves it absent.
func TestCompletionCreatesNoHome(t *testing.T) {
	home := filepath.Join(t.TempDir(), "never-created")
	t.Setenv("FORGE_HOME", home)
	for _, line := range [][]string{{"env", "get", ""}, {"activate", ""}, {"uninstall", "--env", "app", ""}, {"install", "--env", ""}} {
		got, _ := completions(t, home, line...)
		if len(got) != 0 {
			t.Errorf("%v: completions %v from a home that does not exist", line, got)
		}
	}
	if _, err := os.Stat(home); err == nil {
		t.Errorf("completing created %s", home)
	}
}

// TestCompletionUnknownShell: a shell forge has no script for is a usage
// error naming the shells it has, not an empty script with exit 0.
func TestCompletionUnknownShell(t *testing.T) {
	for _, args := range [][]string{{"completion", "tcsh"}, {"completion"}} {
		var out, errOut bytes.Buffer
		code := Main(append([]string{"--home", t.TempDir()}, args...), &out, &errOut)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
		for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
			if !strings.Contains(errOut.String(), sh) {
				t.Errorf("%v: message lacks %s: %s", args, sh, errOut.String())
			}
		}
		if out.Len() != 0 {
			t.Errorf("%v: printed %q on stdout", args, out.String())
		}
	}
}

// asForgeEnv makes the test binary behave as forge (TestBashCompletion
// puts it on PATH under that name, for the completion script to call).
const asForgeEnv = "FORGE_TEST_BINARY_IS_FORGE"

func init() {
	if os.Getenv(asForgeEnv) == "1" {
		os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
	}
}

// bashCompletionLib is the bash-completion library cobra's bash script needs
// (_get_comp_words_by_ref); scripts/test.sh installs it where it can.
const bashCompletionLib = "/usr/share/bash-completion/bash_completion"

// TestBashCompletion sources the generated script in a real bash and calls
// its completion function the way bash does on TAB, with this test binary
// as forge on PATH.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	// With the bash-completion package, and without it (forge's script
	// then brings stand-ins for the two functions cobra's script calls).
	libs := []string{"", bashCompletionLib}
	if _, err := os.Stat(bashCompletionLib); err != nil {
		t.Logf("bash-completion is not installed (%v): completing without it only", err)
		libs = libs[:1]
	}
	s := newLayeredCLI(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(self, filepath.Join(bin, "forge")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		line string // what is typed before TAB
		want []string
	}{
		{"forge activate ", []string{"app", "base"}},
		{"forge activate a", []string{"app"}},
		{"forge env rm b", []string{"base"}},
		{"forge run --env ", []string{"app", "base"}},
		{"forge uninstall --env app ", []string{"colorama", "numpy"}},
		{"forge install --link-mode h", []string{"hardlink"}},
	}
	dir := t.TempDir()
	for _, lib := range libs {
		for _, tt := range tests {
			name := tt.line
			if lib == "" {
				name += " (without bash-completion)"
			}
			t.Run(name, func(t *testing.T) {
				bashCompletion(t, bash, lib, bin, dir, s.home, tt.line, tt.want)
			})
		}
	}
}

// bashCompletion completes line in a bash that has sourced lib (none: "")
// and forge's script, as bash does on TAB, and checks COMPREPLY.
func bashCompletion(t *testing.T, bash, lib, bin, dir, home, line string, want []string) {
	t.Helper()
	{
		{
			script := ""
			if lib != "" {
				script = `source ` + lib + "\n"
			}
			script += `source <(forge completion bash) || exit 9
COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}
read -ra COMP_WORDS <<<"$COMP_LINE"
[[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
__start_forge
printf '%s\n' "${COMPREPLY[@]}"`
			cmd := exec.Command(bash, "--norc", "--noprofile", "-c", script, "bash", line)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), asForgeEnv+"=1", "FORGE_HOME="+home, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
			var stderr strings.Builder
			cmd.Stderr = &stderr // compopt complains outside a real TAB
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("bash: %v\n%s%s", err, out, stderr.String())
			}
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				if l = strings.TrimSpace(l); l != "" {
					got = append(got, l)
				}
			}
			if !sameSet(got, want) {
				t.Errorf("COMPREPLY %q, want %q", got, want)
			}
		}
	}
}
