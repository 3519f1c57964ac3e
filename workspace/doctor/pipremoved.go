package doctor

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
)

// KindPipRemoved is a package forge linked that pip uninstalled inside the
// environment (supported: see README). Its installed .dist-info is gone,
// which is how pip says a distribution is not installed; that is the
// user's decision, so --fix updates the records (the manifest row, its
// paths, the entry's refcount) rather than linking it again. Info only.
const KindPipRemoved = "pip_removed"

// scanPipRemoved reports, once per package, the linked manifests whose
// recorded top-level .dist-info is gone from the layer's site-packages,
// and returns them by (layer, entry).
func scanPipRemoved(w *workspace.Workspace, s *scanState, links []store.LayerLink) map[[2]string]bool {
	out := map[[2]string]bool{}
	for _, l := range links {
		key := [2]string{l.Layer, l.Entry}
		if out[key] || !strings.HasSuffix(l.Path, ".dist-info") || !strings.HasSuffix(path.Dir(l.Path), "/site-packages") {
			continue
		}
		m, ok := s.manifests[key]
		if !ok || m.State != store.StateLinked {
			continue
		}
		root := layerRoot(w, s, l.Layer)
		if _, isEnv := s.envs[l.Layer]; isEnv && !s.rootExists(root) {
			continue // reported as env_missing
		}
		if _, err := os.Lstat(filepath.Join(root, filepath.FromSlash(l.Path))); err == nil {
			continue
		}
		out[key] = true
		label := fmt.Sprintf("%s in %s", m.NormName, m.Layer)
		s.add(Issue{Kind: KindPipRemoved, Env: l.Layer, Entry: l.Entry, Path: l.Path, Info: true,
			Message: fmt.Sprintf("%s was uninstalled outside forge (pip uninstall: its %s is gone)", label, path.Base(l.Path)),
			fix: &fixPlan{Fix: Fix{Action: "forget_removed", Target: m.Layer + ":" + m.NormName,
				Description: "record that " + label + " was uninstalled (drop its manifest row; the store keeps the entry for gc)"}, m: m}})
	}
	return out
}
