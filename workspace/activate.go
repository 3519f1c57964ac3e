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
	Name       string   `json:"-"`
	VirtualEnv string   `json:"virtual_env"`
	Path       []string `json:"path"`       // bin directories to put first on PATH, nearest first
	PythonPath []string `json:"pythonpath"` // site-packages of every layer, LOCAL first
	// PycachePrefix is the environment's own bytecode cache (ENV/var/pycache).
	// PYTHONPATH puts the layers' site-packages, whose package directories
	// are links into the store, on the path of every Python that runs, not
	// only the environment's own: one that does not read the environment's
	// _forge_pycache.pth (python -S, another version) would write
	// __pycache__ into the store. PYTHONPYCACHEPREFIX sends it here instead
	// (Python 3.8 and later; older interpreters ignore it).
	PycachePrefix string `json:"pycache_prefix"`
}

// Activate returns the variables of an environment.
func (w *Workspace) Activate(ctx context.Context, name string) (*Activation, error) {
	e, err := w.OpenUsableEnv(ctx, name)
	if err != nil {
		return nil, err
	}
	a := &Activation{Name: e.Name, VirtualEnv: e.Path, Path: []string{e.Venv.Bin()}, PythonPath: []string{e.Venv.SitePackages()},
		PycachePrefix: linker.PycacheDir(e.Venv)}
	for _, v := range w.layerVenvs(e) {
		a.Path = append(a.Path, v.Bin())
		a.PythonPath = append(a.PythonPath, v.SitePackages())
	}
	return a, nil
}

// Environ returns base with the activation applied (PYTHONHOME removed).
// PYTHONPYCACHEPREFIX is always the environment's: a prefix of the caller's
// would hold bytecode that forge cannot drop when a package is replaced.
func (a *Activation) Environ(base []string) []string {
	out := make([]string, 0, len(base)+3)
	path := os.Getenv("PATH")
	for _, kv := range base {
		switch {
		case strings.HasPrefix(kv, "PATH="):
			path = strings.TrimPrefix(kv, "PATH=")
		case strings.HasPrefix(kv, "VIRTUAL_ENV="), strings.HasPrefix(kv, "PYTHONHOME="), strings.HasPrefix(kv, "PYTHONPATH="),
			strings.HasPrefix(kv, "PYTHONPYCACHEPREFIX="):
		default:
			out = append(out, kv)
		}
	}
	p := strings.Join(a.Path, string(filepath.ListSeparator))
	if path != "" {
		p += string(filepath.ListSeparator) + path
	}
	return append(out, "VIRTUAL_ENV="+a.VirtualEnv, "PATH="+p, "PYTHONPATH="+strings.Join(a.PythonPath, string(filepath.ListSeparator)),
		"PYTHONPYCACHEPREFIX="+a.PycachePrefix)
}

// Script renders the activation for sh (see linker.ActivateScript): eval'd,
// it enters the environment with a "(NAME) " prompt and defines
// deactivate, which restores everything it changed.
func (a *Activation) Script(sh linker.Shell) string {
	return linker.ActivateScript(sh, linker.Activation{VirtualEnv: a.VirtualEnv, Prompt: "(" + a.Name + ") ", Path: a.Path,
		PythonPath: a.PythonPath, PycachePrefix: a.PycachePrefix})
}
