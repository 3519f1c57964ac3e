package main

import (
	"bytes"
	"os"
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

// TestDynamicCompletion drives cobra's hidden __complete command the way
// the shell scripts do.
func TestDynamicCompletion(t *testing.T) {
	s := newLayeredCLI(t)
	t.Setenv("FORGE_HOME", s.home)
	tests := []struct {
		name string
		line []string // the command line being completed; the last word is the prefix
		want []string
	}{
		{name: "env names for env get", line: []string{"env", "get", ""}, want: []string{"app", "base"}},
		{name: "setting keys", line: []string{"env", "set", "app", ""}, want: []string{"abi_policy", "link_mode", "resolver_mode"}},
		{name: "setting values", line: []string{"env", "set", "app", "link_mode", ""}, want: []string{"symlink", "hardlink", "copy"}},
		{name: "env flag of inspect", line: []string{"inspect", "numpy", "--env", ""}, want: []string{"app", "base"}},
		{name: "mode flag of tree", line: []string{"tree", "--mode", ""}, want: []string{"loose", "warn", "strict"}},
		{name: "env rm", line: []string{"env", "rm", ""}, want: []string{"app", "base"}},
		{name: "subcommands of env", line: []string{"env", ""}, want: []string{"get", "rm", "set", "unset"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"__complete", "--home", s.home}, tt.line...)
			if code := Main(args, &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				if l == "" || strings.HasPrefix(l, ":") || strings.HasPrefix(l, "Completion ended") {
					continue
				}
				name, _, _ := strings.Cut(l, "\t") // drop descriptions
				got = append(got, name)
			}
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("completions %v lack %q\n%s", got, w, out.String())
				}
			}
		})
	}
}
