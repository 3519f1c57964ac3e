package inspect

import (
	"os"
	"path/filepath"
	"sort"

	"github.com/forge-ml/forge/resolver"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/wheel"
	"github.com/forge-ml/forge/workspace"
)

// A package that pip (or anything but forge) installed into a layer, which
// forge's manifest does not record, appears in tree and inspect with this
// state and link mode: pip list and pip check see it, so forge must too.
const (
	StateUnmanaged    = "unmanaged"
	LinkModeUnmanaged = "pip"
)

// addUnmanaged adds to each layer of st the installed distributions of its
// site-packages that forge did not install (INSTALLER is not "forge"), read
// from their own METADATA (real files, written by pip inside the
// environment). One that has replaced a package of the manifest (pip
// install -U pip over the pip forge linked) stands in for it: Python and
// pip see that one. A .dist-info without readable METADATA is skipped: pip
// skips it too.
func addUnmanaged(st []stackLayer) {
	for i := range st {
		l := &st[i]
		at := map[string]int{}
		for j, p := range l.layer.Packages {
			at[wheel.NormalizeName(p.Name)] = j
		}
		dirs, _ := filepath.Glob(filepath.Join(workspace.GlobEscape(l.site), "*.dist-info"))
		sort.Strings(dirs)
		for _, d := range dirs {
			md, ok := workspace.ForeignMetadata(d)
			if !ok {
				continue
			}
			norm := wheel.NormalizeName(md.Name)
			_, rerr := os.Stat(filepath.Join(d, "REQUESTED"))
			p := resolver.Package{Name: md.Name, Version: md.Version, Requires: md.RequiresDist, Extras: md.ProvidesExtra, Requested: rerr == nil}
			m := store.Manifest{Layer: l.key, NormName: norm, LinkMode: LinkModeUnmanaged, State: StateUnmanaged, Requested: rerr == nil}
			if j, ok := at[norm]; ok {
				l.layer.Packages[j], l.manifests[j] = p, m
				continue
			}
			at[norm] = len(l.layer.Packages)
			l.layer.Packages = append(l.layer.Packages, p)
			l.manifests = append(l.manifests, m)
		}
	}
}
