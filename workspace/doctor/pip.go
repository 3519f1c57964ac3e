package doctor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/forge-ml/forge/linker"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
)

// KindPipMissing: an environment without a pip of its own (made before
// forge linked pip into every environment, or pip uninstalled), so `pip` in
// it runs the host's and installs there. Part of forge's JSON contract.
const KindPipMissing = "pip_missing"

// linkPipAction is the doctor --fix repair of KindPipMissing.
const linkPipAction = "link_pip"

// scanPip reports the environments whose LOCAL layer has neither pip linked
// by forge nor a pip that pip installed, except those created --without-pip
// and those whose directory is gone (env_missing). It reads directories
// only: no interpreter runs. A pip whose manifest row a crash left
// "linking" or "unlinking", or that is only a stray link, counts as
// missing: --fix rolls it back, finishes removing it or removes the stray
// first (link_pip is ordered last), so one --fix leaves the environment
// with pip.
func scanPip(w *workspace.Workspace, s *scanState, envs []*store.EnvRow) {
	pipState := map[string]store.ManifestState{} // layer -> state of its pip row
	for _, m := range s.manifests {
		if m.NormName == "pip" {
			pipState[m.Layer] = m.State
		}
	}
	for _, e := range envs {
		if _, err := os.Stat(filepath.Join(e.Path, "pyvenv.cfg")); err != nil || linker.WithoutPip(e.Path) {
			continue
		}
		if st, ok := pipState[e.Name]; ok && st == store.StateLinked {
			continue // forge's pip; missing links of it are broken_link's
		} else if !ok && ownPip(e.Path) {
			continue // a pip installed by pip itself (real files)
		}
		s.add(Issue{Kind: KindPipMissing, Env: e.Name, Path: e.Path,
			Message: fmt.Sprintf("environment %s has no pip of its own: pip in it runs the host's and installs there", e.Name),
			fix: &fixPlan{Fix: Fix{Action: linkPipAction, Target: e.Name,
				Description: fmt.Sprintf("link pip into environment %s from its interpreter's bundled wheel", e.Name)}, env: e.Name}})
	}
}

// ownPip reports whether the environment at root has a pip package of its
// own that forge did not link: a real directory (pip installed by pip). A
// link into the store there is a crash's leftover (stray_link), which
// --fix removes.
func ownPip(root string) bool {
	dirs, _ := filepath.Glob(filepath.Join(workspace.GlobEscape(root), "lib", "python*", "site-packages", "pip"))
	for _, d := range dirs {
		fi, err := os.Lstat(d)
		if err != nil || !fi.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "__init__.py")); err == nil {
			return true
		}
	}
	return false
}

// fixPip links pip into an environment, as forge create does. The caller
// (doctor --fix) holds the gc lock and every layer's lock.
func fixPip(ctx context.Context, w *workspace.Workspace, env string) error {
	e, err := w.OpenEnv(ctx, env)
	if err != nil {
		return err
	}
	pip, err := w.IngestPip(ctx, e.Name, e.Py)
	if err != nil {
		return err
	}
	// As relink does: what a create killed while linking pip left behind
	// (launchers, links) is nobody's and would stand in the way.
	strays, err := w.Strays(ctx, e.Name, e.Venv, pip)
	if err != nil {
		return err
	}
	if err := workspace.RemoveStrays(e.Venv, strays); err != nil {
		return err
	}
	return w.LinkPip(ctx, e, pip)
}
