package workspace

import (
	"os"
	"path/filepath"
	"sort"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/resolver"
	"github.com/forge-ml/forge/store"
)

// A package that pip (or anything but forge) installed into a layer, which
// forge's manifest does not record, appears in tree and inspect with this
// state and link mode: pip list and pip check see it, so forge must too.
const (
	StateUnmanaged    = "unmanaged"
	LinkModeUnmanaged = "pip"
)

// addUnmanaged adds to each layer of st the installed distributions of its
// site-packages that its manifest does not name, read from their own
// METADATA (real files, written by pip inside the environment). A
// .dist-info without readable METADATA is skipped: pip skips it too.
func addUnmanaged(st []stackLayer) {
	for i := range st {
		l := &st[i]
		have := map[string]bool{}
		for _, p := range l.layer.Packages {
			have[abi.NormalizeName(p.Name)] = true
		}
		dirs, _ := filepath.Glob(filepath.Join(globEscape(l.site), "*.dist-info"))
		sort.Strings(dirs)
		for _, d := range dirs {
			data, err := os.ReadFile(filepath.Join(d, "METADATA"))
			if err != nil {
				continue
			}
			md, err := abi.ParseMetadata(data)
			if err != nil || md.Name == "" {
				continue
			}
			norm := abi.NormalizeName(md.Name)
			if have[norm] {
				continue
			}
			have[norm] = true
			_, rerr := os.Stat(filepath.Join(d, "REQUESTED"))
			l.layer.Packages = append(l.layer.Packages, resolver.Package{Name: md.Name, Version: md.Version,
				Requires: md.RequiresDist, Extras: md.ProvidesExtra, Requested: rerr == nil})
			l.manifests = append(l.manifests, store.Manifest{Layer: l.key, NormName: norm, LinkMode: LinkModeUnmanaged, State: StateUnmanaged,
				Requested: rerr == nil})
		}
	}
}
