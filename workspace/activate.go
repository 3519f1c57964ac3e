package workspace

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/forge-ml/forge/linker"
)

// Activation is what entering an environment sets.
type Activation struct {
	VirtualEnv string   `json:"virtual_env"`
	Path       []string `json:"path"`       // bin directories to put first on PATH, nearest first
	PythonPath []string `json:"pythonpath"` // site-packages of every layer, LOCAL first
}

// Activate returns the variables of an environment.
func (w *Workspace) Activate(ctx context.Context, name string) (*Activation, error) {
	e, err := w.OpenEnv(ctx, name)
	if err != nil {
		return nil, err
	}
	a := &Activation{VirtualEnv: e.Path, Path: []string{e.Venv.Bin()}, PythonPath: []string{e.Venv.SitePackages()}}
	for _, p := range e.Chain {
		v := linker.Venv{Root: p.Path, Python: e.Py}
		a.Path = append(a.Path, v.Bin())
		a.PythonPath = append(a.PythonPath, v.SitePackages())
	}
	g := w.globalVenv(e.Py)
	a.Path = append(a.Path, g.Bin())
	a.PythonPath = append(a.PythonPath, g.SitePackages())
	return a, nil
}

// Environ returns base with the activation applied (PYTHONHOME removed).
func (a *Activation) Environ(base []string) []string {
	out := make([]string, 0, len(base)+3)
	path := os.Getenv("PATH")
	for _, kv := range base {
		switch {
		case strings.HasPrefix(kv, "PATH="):
			path = strings.TrimPrefix(kv, "PATH=")
		case strings.HasPrefix(kv, "VIRTUAL_ENV="), strings.HasPrefix(kv, "PYTHONHOME="), strings.HasPrefix(kv, "PYTHONPATH="):
		default:
			out = append(out, kv)
		}
	}
	p := strings.Join(a.Path, string(filepath.ListSeparator))
	if path != "" {
		p += string(filepath.ListSeparator) + path
	}
	return append(out, "VIRTUAL_ENV="+a.VirtualEnv, "PATH="+p, "PYTHONPATH="+strings.Join(a.PythonPath, string(filepath.ListSeparator)))
}

// Shell renders the activation as POSIX shell exports.
func (a *Activation) Shell() string {
	var b strings.Builder
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	b.WriteString("export VIRTUAL_ENV=" + q(a.VirtualEnv) + "\n")
	b.WriteString("export PATH=" + q(strings.Join(a.Path, ":")) + "\"${PATH:+:$PATH}\"\n")
	b.WriteString("export PYTHONPATH=" + q(strings.Join(a.PythonPath, ":")) + "\n")
	b.WriteString("unset PYTHONHOME\n")
	return b.String()
}

func sanitize(layer string) string { return strings.ReplaceAll(layer, "/", "_") }
