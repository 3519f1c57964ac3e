package linker

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Shell is a family of shells an activation script is written for.
type Shell string

const (
	POSIX Shell = "sh" // sh, dash, ksh: also what bash and zsh get
	Bash  Shell = "bash"
	Zsh   Shell = "zsh"
	Fish  Shell = "fish"
)

// Shells are the values ParseShell accepts.
var Shells = []Shell{Bash, Zsh, Fish, POSIX}

// ParseShell reads a --shell value.
func ParseShell(s string) (Shell, error) {
	for _, sh := range Shells {
		if s == string(sh) {
			return sh, nil
		}
	}
	return "", fmt.Errorf("unknown shell %q: give bash, zsh, fish or sh", s)
}

// ShellOf is the shell a login shell path ($SHELL) names: bash, zsh or fish
// by its file name, else POSIX.
func ShellOf(path string) Shell {
	switch filepath.Base(path) {
	case "bash":
		return Bash
	case "zsh":
		return Zsh
	case "fish":
		return Fish
	}
	return POSIX
}

// ActivateScriptNames are the files in an environment's bin/ that
// CreateVenv writes: sourced, never run, and rewritten when a home moves.
var ActivateScriptNames = []string{"activate", "activate.fish"}

// Activation is what entering an environment sets in a shell.
type Activation struct {
	VirtualEnv string
	// Prompt prefixes the prompt ("(app) ") unless
	// VIRTUAL_ENV_DISABLE_PROMPT is set; it is also VIRTUAL_ENV_PROMPT.
	Prompt string
	// Path goes before PATH, in this order (the environment's bin, its
	// parents', nearest first, GLOBAL's).
	Path []string
	// PythonPath and PycachePrefix, when not empty, replace PYTHONPATH and
	// PYTHONPYCACHEPREFIX.
	PythonPath    []string
	PycachePrefix string
}

// ActivateScript is a script that, sourced or eval'd by sh (a POSIX shell,
// bash, zsh) or by fish, enters the environment a describes: as a venv's
// bin/activate does, and compatible with it (the same _OLD_VIRTUAL_*
// variables, so either's deactivate undoes the other's activation). It
// unsets PYTHONHOME and defines deactivate, which puts back exactly what
// was there before (a variable that was unset is unset again, PS1 or
// fish_prompt included); "deactivate nondestructive" does so and keeps the
// function. Activating again first deactivates what is active.
func ActivateScript(sh Shell, a Activation) string {
	if sh == Fish {
		return fishScript(a)
	}
	return posixScript(a)
}

// The variables forge's activations may set, besides venv's PATH,
// PYTHONHOME and PS1. A venv's deactivate does not know them; _FORGE_SET_X
// marks that an activation set X, and _OLD_VIRTUAL_X holds X's value when
// it had one.
var forgeSaved = []string{"PYTHONPATH", "PYTHONPYCACHEPREFIX"}

func posixScript(a Activation) string {
	var b strings.Builder
	q := shellQuote
	b.WriteString(`# Written by forge: source it (bash, zsh, sh) to enter ` + filepath.Base(a.VirtualEnv) + `; "deactivate" leaves.
deactivate () {
    if [ -n "${_OLD_VIRTUAL_PATH+x}" ]; then PATH="$_OLD_VIRTUAL_PATH"; export PATH; unset _OLD_VIRTUAL_PATH; fi
    if [ -n "${_OLD_VIRTUAL_PYTHONHOME+x}" ]; then PYTHONHOME="$_OLD_VIRTUAL_PYTHONHOME"; export PYTHONHOME; unset _OLD_VIRTUAL_PYTHONHOME; fi
`)
	for _, v := range forgeSaved {
		fmt.Fprintf(&b, `    if [ -n "${_FORGE_SET_%[1]s+x}" ]; then
        if [ -n "${_OLD_VIRTUAL_%[1]s+x}" ]; then %[1]s="$_OLD_VIRTUAL_%[1]s"; export %[1]s; unset _OLD_VIRTUAL_%[1]s; else unset %[1]s; fi
        unset _FORGE_SET_%[1]s
    fi
`, v)
	}
	b.WriteString(`    if [ -n "${_FORGE_PS1_UNSET+x}" ]; then unset PS1 _FORGE_PS1_UNSET; fi
    if [ -n "${_OLD_VIRTUAL_PS1+x}" ]; then PS1="$_OLD_VIRTUAL_PS1"; unset _OLD_VIRTUAL_PS1; fi
    unset VIRTUAL_ENV VIRTUAL_ENV_PROMPT
    hash -r 2>/dev/null
    if [ ! "${1:-}" = "nondestructive" ]; then unset -f deactivate; fi
}
deactivate nondestructive
VIRTUAL_ENV=` + q(a.VirtualEnv) + `
export VIRTUAL_ENV
_OLD_VIRTUAL_PATH="${PATH-}"
PATH=` + q(strings.Join(a.Path, ":")) + `"${PATH:+:$PATH}"
export PATH
if [ -n "${PYTHONHOME+x}" ]; then _OLD_VIRTUAL_PYTHONHOME="$PYTHONHOME"; unset PYTHONHOME; fi
`)
	set := func(name, value string) {
		fmt.Fprintf(&b, "if [ -n \"${%[1]s+x}\" ]; then _OLD_VIRTUAL_%[1]s=\"$%[1]s\"; fi\n_FORGE_SET_%[1]s=1\n%[1]s=%[2]s\nexport %[1]s\n", name, q(value))
	}
	if len(a.PythonPath) > 0 {
		set("PYTHONPATH", strings.Join(a.PythonPath, ":"))
	}
	if a.PycachePrefix != "" {
		set("PYTHONPYCACHEPREFIX", a.PycachePrefix)
	}
	b.WriteString(`VIRTUAL_ENV_PROMPT=` + q(a.Prompt) + `
export VIRTUAL_ENV_PROMPT
if [ -z "${VIRTUAL_ENV_DISABLE_PROMPT:-}" ]; then
    if [ -n "${PS1+x}" ]; then _OLD_VIRTUAL_PS1="$PS1"; else _FORGE_PS1_UNSET=1; fi
    PS1="${VIRTUAL_ENV_PROMPT}${PS1:-}"
fi
hash -r 2>/dev/null
`)
	return b.String()
}

func fishScript(a Activation) string {
	var b strings.Builder
	q := fishQuote
	b.WriteString(`# Written by forge: source it from fish to enter ` + filepath.Base(a.VirtualEnv) + `; "deactivate" leaves.
function deactivate -d "Leave the environment"
    if set -q _OLD_VIRTUAL_PATH
        set -gx PATH $_OLD_VIRTUAL_PATH
        set -e _OLD_VIRTUAL_PATH
    end
    if set -q _OLD_VIRTUAL_PYTHONHOME
        set -gx PYTHONHOME $_OLD_VIRTUAL_PYTHONHOME
        set -e _OLD_VIRTUAL_PYTHONHOME
    end
`)
	for _, v := range forgeSaved {
		fmt.Fprintf(&b, `    if set -q _FORGE_SET_%[1]s
        if set -q _OLD_VIRTUAL_%[1]s
            set -gx %[1]s $_OLD_VIRTUAL_%[1]s
            set -e _OLD_VIRTUAL_%[1]s
        else
            set -e %[1]s
        end
        set -e _FORGE_SET_%[1]s
    end
`, v)
	}
	b.WriteString(`    if set -q _OLD_FISH_PROMPT_OVERRIDE
        set -e _OLD_FISH_PROMPT_OVERRIDE
        if functions -q _old_fish_prompt
            functions -e fish_prompt
            functions -c _old_fish_prompt fish_prompt
            functions -e _old_fish_prompt
        end
    end
    set -e VIRTUAL_ENV
    set -e VIRTUAL_ENV_PROMPT
    if test "$argv[1]" != nondestructive
        functions -e deactivate
    end
end
deactivate nondestructive
set -gx VIRTUAL_ENV ` + q(a.VirtualEnv) + `
set -g _OLD_VIRTUAL_PATH $PATH
set -gx PATH`)
	for _, p := range a.Path {
		b.WriteString(" " + q(p))
	}
	b.WriteString(` $PATH
if set -q PYTHONHOME
    set -g _OLD_VIRTUAL_PYTHONHOME $PYTHONHOME
    set -e PYTHONHOME
end
`)
	set := func(name string, values ...string) {
		fmt.Fprintf(&b, "if set -q %[1]s\n    set -g _OLD_VIRTUAL_%[1]s $%[1]s\nend\nset -g _FORGE_SET_%[1]s 1\nset -gx %[1]s", name)
		for _, v := range values {
			b.WriteString(" " + q(v))
		}
		b.WriteString("\n")
	}
	if len(a.PythonPath) > 0 {
		set("PYTHONPATH", a.PythonPath...)
	}
	if a.PycachePrefix != "" {
		set("PYTHONPYCACHEPREFIX", a.PycachePrefix)
	}
	b.WriteString(`set -gx VIRTUAL_ENV_PROMPT ` + q(a.Prompt) + `
if test -z "$VIRTUAL_ENV_DISABLE_PROMPT"
    if functions -q fish_prompt
        functions -c fish_prompt _old_fish_prompt
    else
        function _old_fish_prompt
        end
    end
    function fish_prompt
        set -l old_status $status
        echo -n -s $VIRTUAL_ENV_PROMPT
        echo "exit $old_status" | source
        _old_fish_prompt
    end
    set -g _OLD_FISH_PROMPT_OVERRIDE "$VIRTUAL_ENV"
end
`)
	return b.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// fishQuote quotes s for fish, in whose single quotes \ and ' are escaped.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
