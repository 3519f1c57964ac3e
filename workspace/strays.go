package workspace

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/forge-ml/forge/linker"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/wheel"
)

// Stray is a path linker.Link would have made for an entry.
type Stray struct {
	abs string
	dir bool // a directory: removed only when nothing else is left in it
	all bool // the installed .dist-info: removed with its content
}

// Strays lists the paths in a layer that linker.Link creates for en and that
// no recorded package owns: links into the entry, hard links or copies of
// its files, launchers of its entry points and .data scripts, and its
// .dist-info. Children come before their directories.
func (w *Workspace) Strays(ctx context.Context, layer string, venv linker.Venv, en *store.Entry) ([]Stray, error) {
	dir := w.Store.EntryDir(en.SHA256)
	distInfo, err := FindDistInfo(dir)
	if err != nil {
		return nil, nil // nothing to go by
	}
	s := &strayScan{w: w, ctx: ctx, layer: layer, venv: venv, en: en, ownedCache: map[string]bool{}}
	site := venv.SitePackages()
	tops, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, t := range tops {
		src := filepath.Join(dir, t.Name())
		switch {
		case t.Name() == distInfo:
		case strings.HasSuffix(t.Name(), ".data") && t.IsDir():
			s.dataDir(src)
		default:
			s.matchTree(src, filepath.Join(site, t.Name()))
		}
	}
	s.launchers(filepath.Join(dir, distInfo, "entry_points.txt"))
	if p := filepath.Join(site, distInfo); !s.owned(p) {
		if _, err := os.Lstat(p); err == nil {
			s.out = append(s.out, Stray{abs: p, all: true})
		}
	}
	return s.out, nil
}

// strayScan is one strays call: the entry, the layer it is matched
// against, and what was found so far.
type strayScan struct {
	w          *Workspace
	ctx        context.Context
	layer      string
	venv       linker.Venv
	en         *store.Entry
	ownedCache map[string]bool // path relative to the layer root -> owned
	bins       []string        // .data/scripts names, launched from bin/
	out        []Stray
}

// owned reports whether a recorded package of the layer owns abs; when in
// doubt (the store cannot say), it is somebody's.
func (s *strayScan) owned(abs string) bool {
	r := Rel(s.venv.Root, abs)
	if v, ok := s.ownedCache[r]; ok {
		return v
	}
	o, err := s.w.Store.PathOwners(s.ctx, s.layer, r)
	v := err != nil || len(o) > 0
	s.ownedCache[r] = v
	return v
}

// matchTree matches the entry's src against the layer's dst, and finds a
// copy of dst interrupted before its rename (linker.CopyTemp).
func (s *strayScan) matchTree(src, dst string) {
	s.match(src, dst)
	if tmp := linker.CopyTemp(dst); !s.owned(tmp) {
		if _, err := os.Lstat(tmp); err == nil {
			s.out = append(s.out, Stray{abs: tmp})
		}
	}
}

// match finds at dst what linker.Link made of src: a symlink to it, a hard
// link or copy of it, a directory of such (and a split left staged).
func (s *strayScan) match(src, dst string) {
	if _, err := os.Lstat(dst + ".forge-split"); err == nil {
		s.out = append(s.out, Stray{abs: dst + ".forge-split", all: true})
	}
	fi, err := os.Lstat(dst)
	if err != nil {
		return
	}
	sfi, err := os.Lstat(src)
	if err != nil {
		return
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		if t, err := os.Readlink(dst); err == nil && AbsTarget(dst, t) == filepath.Clean(src) && !s.owned(dst) {
			s.out = append(s.out, Stray{abs: dst})
		}
	case fi.IsDir() && sfi.IsDir():
		kids, _ := os.ReadDir(src)
		for _, k := range kids {
			s.matchTree(filepath.Join(src, k.Name()), filepath.Join(dst, k.Name()))
		}
		if !s.owned(dst) {
			s.out = append(s.out, Stray{abs: dst, dir: true})
		}
	case fi.Mode().IsRegular() && sfi.Mode().IsRegular():
		if (os.SameFile(fi, sfi) || SameFileContent(src, dst)) && !s.owned(dst) {
			s.out = append(s.out, Stray{abs: dst})
		}
	}
}

// dataDir matches the entry's NAME.data directory src: its scripts are
// launchers (found by launchers), the rest lands in the layer's headers,
// prefix or site-packages.
func (s *strayScan) dataDir(src string) {
	kinds, _ := os.ReadDir(src)
	for _, k := range kinds {
		ksrc := filepath.Join(src, k.Name())
		if k.Name() == "scripts" {
			files, _ := os.ReadDir(ksrc)
			for _, f := range files {
				s.bins = append(s.bins, f.Name())
			}
			continue
		}
		dst, ok := s.dataTarget(k.Name())
		if !ok {
			continue
		}
		kids, _ := os.ReadDir(ksrc)
		for _, c := range kids {
			s.matchTree(filepath.Join(ksrc, c.Name()), filepath.Join(dst, c.Name()))
		}
		if k.Name() == "headers" && !s.owned(dst) {
			s.out = append(s.out, Stray{abs: dst, dir: true})
		}
	}
}

// dataTarget is where a .data subdirectory's content is installed.
func (s *strayScan) dataTarget(kind string) (string, bool) {
	switch kind {
	case "headers":
		return s.venv.Headers(s.en.Name), true
	case "data":
		return s.venv.Root, true
	case "purelib", "platlib":
		return s.venv.SitePackages(), true
	}
	return "", false
}

// launchers finds the .data scripts and entry-point launchers (from the
// entry_points.txt at entryPoints) in the layer's bin.
func (s *strayScan) launchers(entryPoints string) {
	bins := append(s.bins, linker.LauncherNames(s.en.Name, s.venv.Python, entryPointScripts(entryPoints))...) // pip's: workspace/doctor/pip.go
	for _, b := range bins {
		p := filepath.Join(s.venv.Bin(), b)
		if _, err := os.Lstat(p); err == nil && !s.owned(p) {
			s.out = append(s.out, Stray{abs: p})
		}
	}
}

// RemoveStrays deletes what strays found, children first, never following a
// link, then prunes directories left empty.
func RemoveStrays(venv linker.Venv, strays []Stray) error {
	var removed []linker.Owned
	var errs []error
	for _, s := range strays {
		if !Within(s.abs, venv.Root) || s.abs == venv.Root {
			continue
		}
		var err error
		switch {
		case s.all:
			err = os.RemoveAll(s.abs)
		case s.dir:
			if kids, e := os.ReadDir(s.abs); e == nil && len(kids) == 1 && kids[0].Name() == linker.SharedMarker {
				os.Remove(filepath.Join(s.abs, linker.SharedMarker))
			}
			if os.Remove(s.abs) != nil {
				continue // not empty: something else lives there
			}
		default:
			err = os.Remove(s.abs)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, linker.Owned{Path: Rel(venv.Root, s.abs), Kind: linker.KindLink})
	}
	if len(removed) > 0 {
		if err := linker.Unlink(venv, removed); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// entryPointScripts lists the console and GUI script names of an
// entry_points.txt (wheel.ScriptNames); none when it cannot be read.
func entryPointScripts(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return wheel.ScriptNames(data)
}

// SameFileContent reports whether files a and b both read and hold the
// same bytes.
func SameFileContent(a, b string) bool {
	x, err := os.ReadFile(a)
	if err != nil {
		return false
	}
	y, err := os.ReadFile(b)
	return err == nil && string(x) == string(y)
}

// Rel is p relative to root with forward slashes, or p when it has no
// relative form.
func Rel(root, p string) string {
	r, err := filepath.Rel(root, p)
	if err != nil {
		return p
	}
	return filepath.ToSlash(r)
}
