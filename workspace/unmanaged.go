package workspace

import (
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/forge-ml/forge/resolver"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/wheel"
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
		dirs, _ := filepath.Glob(filepath.Join(GlobEscape(l.site), "*.dist-info"))
		sort.Strings(dirs)
		for _, d := range dirs {
			md, ok := ForeignMetadata(d)
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

// ForeignMetadata reads the METADATA of an installed .dist-info that forge
// did not install (INSTALLER is not "forge"). ok is false for forge's own,
// and for one without a readable METADATA naming a project: pip skips those
// too.
func ForeignMetadata(distInfo string) (md wheel.Metadata, ok bool) {
	if installer, err := os.ReadFile(filepath.Join(distInfo, "INSTALLER")); err == nil && strings.TrimSpace(string(installer)) == wheel.Installer {
		return md, false
	}
	data, err := os.ReadFile(filepath.Join(distInfo, "METADATA"))
	if err != nil {
		return md, false
	}
	md, err = wheel.ParseMetadata(data)
	return md, err == nil && md.Name != ""
}
