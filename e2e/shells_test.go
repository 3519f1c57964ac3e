package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/forge-ml/forge/e2e/realstack"
	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/probe"
)

// shellHome is a home with base (basetool, whose console script is
// basetool-cli) and app, its child (apptool).
func shellHome(t *testing.T) string {
	t.Helper()
	if _, err := probe.FindPython("3.12"); err != nil {
		t.Skipf("no Python 3.12: %v", err)
	}
	home, wheels := t.TempDir(), t.TempDir()
	whl := func(name string) string {
		p, err := fixtures.PurePackage(name, "1.0").WriteTo(wheels)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, argv := range [][]string{
		{"create", "base", "--python", "3.12", "--without-pip"},
		{"create", "app", "--parent", "base", "--without-pip"},
		{"install", "--env", "base", whl("basetool")},
		{"install", "--env", "app", whl("apptool")},
	} {
		dailyRun(t, home, home, 0, append([]string{forgeBin}, argv...)...)
	}
	return home
}

// shellCase is one way into an environment in one shell.
type shellCase struct {
	shell string // bash, zsh, sh or fish
	how   string // "forge activate" or "bin/activate"
}

// enter is the command of c's shell that enters env.
func (c shellCase) enter(home, env string) string {
	dir := filepath.Join(home, "envs", env)
	switch {
	case c.how == "bin/activate" && c.shell == "fish":
		return "source " + shq(filepath.Join(dir, "bin", "activate.fish"))
	case c.how == "bin/activate":
		return ". " + shq(filepath.Join(dir, "bin", "activate"))
	case c.shell == "fish":
		return shq(forgeBin) + " activate " + env + " --shell fish | source"
	}
	return `eval "$(` + shq(forgeBin) + ` activate ` + env + ` --shell ` + c.shell + `)"`
}

func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// script is what c's shell runs: it records the environment and the
// prompt before, inside and after the environment, runs the parent's
// console script, imports from both layers, and re-enters (app, then
// base) before leaving. out receives the records.
func (c shellCase) script(home, out, prelude string) string {
	rec := func(name string) string {
		if c.shell == "fish" {
			return "env | env LC_ALL=C sort > " + shq(filepath.Join(out, name+".env")) + "; fish_prompt > " + shq(filepath.Join(out, name+".ps1")) + "\n"
		}
		return "env | LC_ALL=C sort > " + shq(filepath.Join(out, name+".env")) + `; printf '%s' "$PS1" > ` + shq(filepath.Join(out, name+".ps1")) + "\n"
	}
	var b strings.Builder
	if c.shell == "fish" {
		b.WriteString("function fish_prompt; echo -n 'user> '; end\nset -gx PYTHONPATH /before/pythonpath\nset -gx PYTHONHOME /before/pythonhome\n")
	} else {
		b.WriteString("PS1='user$ '\nexport PYTHONPATH=/before/pythonpath\nexport PYTHONHOME=/before/pythonhome\n")
	}
	b.WriteString(prelude + "\n")
	b.WriteString(rec("before"))
	b.WriteString(c.enter(home, "app") + "\n")
	b.WriteString(rec("active"))
	b.WriteString("basetool-cli > " + shq(filepath.Join(out, "tool.out")) + " 2>&1\n")
	b.WriteString("python -c 'import basetool, apptool; print(basetool.__file__); print(apptool.__file__)' > " + shq(filepath.Join(out, "import.out")) + " 2>&1\n")
	b.WriteString(c.enter(home, "base") + "\n")
	b.WriteString(rec("reentered"))
	b.WriteString("deactivate\n")
	b.WriteString(rec("after"))
	if c.shell == "fish" {
		b.WriteString("if functions -q deactivate; echo deactivate still defined; end > " + shq(filepath.Join(out, "leftover.out")) + "\n")
	} else {
		b.WriteString(`case "$(type deactivate 2>/dev/null)" in *function*) echo deactivate still defined; esac > ` + shq(filepath.Join(out, "leftover.out")) + "\n")
	}
	return b.String()
}

func (c shellCase) run(t *testing.T, home, prelude string) map[string]string {
	t.Helper()
	out := t.TempDir()
	var argv []string
	switch c.shell {
	case "bash":
		argv = []string{"bash", "--norc", "--noprofile", "-c"}
	case "zsh":
		argv = []string{"zsh", "-f", "-c"}
	case "fish":
		argv = []string{"fish", "--no-config", "-c"}
	default:
		argv = []string{c.shell, "-c"}
	}
	cmd := exec.Command(argv[0], append(argv[1:], c.script(home, out, prelude))...)
	var env []string
	for _, kv := range realstack.ForgeEnv(home) {
		if !strings.HasPrefix(kv, "SHELL=") && !strings.HasPrefix(kv, "VIRTUAL_ENV") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	if b, err := cmd.CombinedOutput(); err != nil || len(b) > 0 {
		t.Fatalf("%s: %v\n%s", c.shell, err, b)
	}
	got := map[string]string{}
	files, _ := filepath.Glob(filepath.Join(out, "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got[filepath.Base(f)] = string(b)
	}
	return got
}

// envVar is the value of name in an env(1) listing, and whether it is set.
func envVar(listing, name string) (string, bool) {
	for _, l := range strings.Split(listing, "\n") {
		if v, ok := strings.CutPrefix(l, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// TestShellActivation enters and leaves an environment in real shells,
// through forge activate and through the environment's own activate
// script: the parent's console script runs, both layers import, the
// prompt says where you are, and deactivate leaves the environment
// exactly as it was, prompt included.
func TestShellActivation(t *testing.T) {
	home := shellHome(t)
	prompt := map[string]string{"bash": "user$ ", "zsh": "user$ ", "sh": "user$ ", "fish": "user> "}
	for _, shell := range []string{"bash", "zsh", "sh", "fish"} {
		for _, how := range []string{"forge activate", "bin/activate"} {
			c := shellCase{shell, how}
			t.Run(shell+"/"+how, func(t *testing.T) {
				if _, err := exec.LookPath(shell); err != nil {
					t.Skipf("no %s here (scripts/test.sh installs zsh and fish)", shell)
				}
				got := c.run(t, home, "")
				if g := strings.TrimSpace(got["tool.out"]); g != "basetool-cli 1.0" {
					t.Errorf("the parent's console script: %q", g)
				}
				if g := got["import.out"]; !strings.Contains(g, filepath.Join("envs", "base")) || !strings.Contains(g, filepath.Join("envs", "app")) {
					t.Errorf("imports:\n%s", g)
				}
				active := got["active.env"]
				if v, _ := envVar(active, "VIRTUAL_ENV"); v != filepath.Join(home, "envs", "app") {
					t.Errorf("VIRTUAL_ENV=%s", v)
				}
				path, _ := envVar(active, "PATH")
				parts := strings.Split(path, ":")
				wantPath := []string{filepath.Join(home, "envs", "app", "bin"), filepath.Join(home, "envs", "base", "bin")}
				if len(parts) < 4 || parts[0] != wantPath[0] || parts[1] != wantPath[1] || !strings.HasPrefix(parts[2], filepath.Join(home, "global")) {
					t.Errorf("PATH=%s\nwant %v, then GLOBAL's bin, then the old PATH", path, wantPath)
				}
				if _, set := envVar(active, "PYTHONHOME"); set {
					t.Errorf("PYTHONHOME still set inside the environment")
				}
				pp, _ := envVar(active, "PYTHONPATH")
				if how == "forge activate" && !strings.HasPrefix(pp, filepath.Join(home, "envs", "app")) {
					t.Errorf("PYTHONPATH=%s", pp)
				}
				if v, _ := envVar(active, "VIRTUAL_ENV_PROMPT"); v != "(app) " {
					t.Errorf("VIRTUAL_ENV_PROMPT=%q", v)
				}
				if g, want := got["active.ps1"], "(app) "+prompt[shell]; g != want {
					t.Errorf("prompt inside %q, want %q", g, want)
				}
				re := got["reentered.env"]
				if v, _ := envVar(re, "VIRTUAL_ENV"); v != filepath.Join(home, "envs", "base") {
					t.Errorf("after entering base from app, VIRTUAL_ENV=%s", v)
				}
				if p, _ := envVar(re, "PATH"); strings.Contains(p, wantPath[0]) {
					t.Errorf("app's bin still on PATH after entering base: %s", p)
				}
				if g, want := got["reentered.ps1"], "(base) "+prompt[shell]; g != want {
					t.Errorf("prompt after re-entering %q, want %q", g, want)
				}
				if got["after.env"] != got["before.env"] {
					t.Errorf("environment after deactivate differs:\n--- before\n%s--- after\n%s", got["before.env"], got["after.env"])
				}
				if got["after.ps1"] != got["before.ps1"] {
					t.Errorf("prompt after deactivate %q, before %q", got["after.ps1"], got["before.ps1"])
				}
				if got["leftover.out"] != "" {
					t.Errorf("deactivate still defined after deactivate: %q", got["leftover.out"])
				}
			})
		}
	}
	t.Run("bash/VIRTUAL_ENV_DISABLE_PROMPT", func(t *testing.T) {
		got := shellCase{"bash", "forge activate"}.run(t, home, "export VIRTUAL_ENV_DISABLE_PROMPT=1")
		if got["active.ps1"] != "user$ " || got["after.env"] != got["before.env"] {
			t.Errorf("prompt %q with VIRTUAL_ENV_DISABLE_PROMPT; env kept: %v", got["active.ps1"], got["after.env"] == got["before.env"])
		}
	})
}

// TestMovedHomeActivateScripts: a moved home's activate scripts (bash and
// fish) name the home where it is now, parents' bins included.
func TestMovedHomeActivateScripts(t *testing.T) {
	home := shellHome(t)
	moved := home + "-moved"
	if out, err := exec.Command("mv", home, moved).CombinedOutput(); err != nil {
		t.Fatalf("mv: %v\n%s", err, out)
	}
	t.Cleanup(func() { os.RemoveAll(moved) })
	dailyRun(t, moved, moved, 0, forgeBin, "envs") // any command re-roots the home
	for _, name := range []string{"activate", "activate.fish"} {
		b, err := os.ReadFile(filepath.Join(moved, "envs", "app", "bin", name))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if strings.Contains(s, home+"/") || !strings.Contains(s, filepath.Join(moved, "envs", "base", "bin")) {
			t.Errorf("%s after the move:\n%s", name, s)
		}
	}
	for _, shell := range []string{"bash", "fish"} {
		t.Run(shell, func(t *testing.T) {
			if _, err := exec.LookPath(shell); err != nil {
				t.Skipf("no %s here", shell)
			}
			got := shellCase{shell, "bin/activate"}.run(t, moved, "")
			if g := strings.TrimSpace(got["tool.out"]); g != "basetool-cli 1.0" {
				t.Errorf("the parent's console script in the moved home: %q", g)
			}
			if got["after.env"] != got["before.env"] {
				t.Errorf("environment after deactivate differs")
			}
		})
	}
}
