package workspace

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/forge-ml/forge/linker"
	"github.com/forge-ml/forge/store"
)

// dropBytecode removes the compiled bytecode of paths a package just left
// (relative to the layer root) from every environment that could have
// imported them: the layer's own, its descendants, and for GLOBAL every
// environment of that Python. Each environment keeps bytecode under its own
// var/pycache (sys.pycache_prefix) and Python trusts a .pyc whose source has
// the same size and modification second; a package linked later at the same
// paths (another version, ingested in the same second) would otherwise run
// the old code.
func (w *Workspace) dropBytecode(ctx context.Context, layer string, venv linker.Venv, owned []linker.Owned) {
	rows, err := w.Store.ListEnvs(ctx)
	if err != nil {
		return
	}
	for _, root := range viewers(layer, venv, rows) {
		cache := linker.PycacheDir(linker.Venv{Root: root})
		if _, err := os.Lstat(cache); err != nil {
			continue
		}
		for _, o := range owned {
			src := filepath.Join(venv.Root, filepath.FromSlash(o.Path))
			mirror := filepath.Join(cache, src)
			if strings.HasSuffix(src, ".py") {
				pycs, _ := filepath.Glob(filepath.Join(filepath.Dir(mirror), GlobEscape(strings.TrimSuffix(filepath.Base(src), ".py"))+".*.pyc"))
				for _, p := range pycs {
					os.Remove(p)
				}
				continue
			}
			os.RemoveAll(mirror) // a package directory's bytecode, if any
		}
	}
}

// viewers lists the roots of the environments that see layer.
func viewers(layer string, venv linker.Venv, rows []*store.EnvRow) []string {
	if xy, ok := store.LayerKey(layer).XY(); ok {
		var out []string
		for _, r := range rows {
			if PyXY(r.PythonVersion) == xy {
				out = append(out, r.Path)
			}
		}
		return out
	}
	parent := map[string]string{}
	for _, r := range rows {
		parent[r.Name] = r.Parent
	}
	out := []string{venv.Root}
	for _, r := range rows {
		for p := r.Parent; p != "" && r.Name != layer; p = parent[p] {
			if p == layer {
				out = append(out, r.Path)
				break
			}
		}
	}
	return out
}

// GlobEscape quotes s for filepath.Glob: its *, ?, [ and \ match
// themselves.
func GlobEscape(s string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`)
	return r.Replace(s)
}
