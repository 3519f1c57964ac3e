package linker

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestActivateScriptQuoting sources scripts for paths with spaces,
// quotes, backslashes and dollars in real shells: every value arrives
// as it was given.
func TestActivateScriptQuoting(t *testing.T) {
	dir := filepath.Join(t.TempDir(), `it's a "dir" \ $HOME`)
	a := Activation{VirtualEnv: dir, Prompt: "(it's) ", Path: []string{filepath.Join(dir, "bin"), filepath.Join(dir, "p a", "bin")},
		PythonPath: []string{filepath.Join(dir, "site")}, PycachePrefix: filepath.Join(dir, "var")}
	for _, sh := range []Shell{Bash, Zsh, POSIX, Fish} {
		t.Run(string(sh), func(t *testing.T) {
			exe := string(sh)
			if _, err := exec.LookPath(exe); err != nil {
				t.Skipf("no %s here", exe)
			}
			script := filepath.Join(t.TempDir(), "activate")
			if err := os.WriteFile(script, []byte(ActivateScript(sh, a)), 0o644); err != nil {
				t.Fatal(err)
			}
			show := `. "$1"; printf '%s\n' "$VIRTUAL_ENV" "$PATH" "$PYTHONPATH" "$PYTHONPYCACHEPREFIX" "$VIRTUAL_ENV_PROMPT"`
			args := []string{"-c", show, "sh", script}
			if sh == Fish {
				show = `source $argv[1]; printf '%s\n' "$VIRTUAL_ENV" (string join : $PATH) "$PYTHONPATH" "$PYTHONPYCACHEPREFIX" "$VIRTUAL_ENV_PROMPT"`
				args = []string{"--no-config", "-c", show, script}
			}
			cmd := exec.Command(exe, args...)
			cmd.Env = []string{"PATH=/usr/bin:/bin"}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			want := strings.Join([]string{dir, strings.Join(a.Path, ":") + ":/usr/bin:/bin", a.PythonPath[0], a.PycachePrefix, "(it's) "}, "\n") + "\n"
			if string(out) != want {
				t.Errorf("got\n%s\nwant\n%s", out, want)
			}
		})
	}
}

func TestShellOf(t *testing.T) {
	for in, want := range map[string]Shell{"/bin/bash": Bash, "/usr/bin/zsh": Zsh, "/usr/local/bin/fish": Fish, "/bin/dash": POSIX, "": POSIX} {
		if got := ShellOf(in); got != want {
			t.Errorf("ShellOf(%q) = %s, want %s", in, got, want)
		}
	}
	if _, err := ParseShell("powershell"); err == nil {
		t.Errorf("ParseShell accepts powershell")
	}
}
