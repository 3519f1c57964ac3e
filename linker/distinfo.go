package linker

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/forge-ml/forge/probe"
	"github.com/forge-ml/forge/wheel"
)

// distInfo makes the installed .dist-info a real directory: METADATA and
// the other files link to the store; INSTALLER, REQUESTED and RECORD are
// forge's own, so that pip sees what is installed here and removes only that.
func (l *linkOp) distInfo() error {
	site := l.p.Layer.SitePackages()
	dst := filepath.Join(site, l.p.DistInfo)
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("%s already exists: %w", l.rel(dst), ErrConflict)
	}
	if err := os.Mkdir(dst, 0o755); err != nil {
		return err
	}
	l.created = append(l.created, dst)
	mode := l.p.Mode
	place := func(s, d string, f fs.DirEntry) error {
		switch {
		case mode == Symlink:
			return os.Symlink(s, d)
		case f.IsDir():
			return copyTree(s, d)
		case mode == Copy || os.Link(s, d) != nil:
			return copyFile(s, d)
		}
		return nil
	}
	err := wheel.InstallDistInfo(filepath.Join(l.p.EntryDir, l.p.DistInfo), dst,
		wheel.DistInfoOptions{Place: place, Requested: l.p.Requested, Perm: 0o644})
	if err != nil {
		return err
	}
	l.own(dst, "dir")
	return WriteRecord(l.p.Layer, l.p.DistInfo, l.res.Owned)
}

func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		t := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(t, 0o755)
		}
		return copyFile(p, t)
	})
}

// WriteRecord (re)writes the RECORD of an installed .dist-info from the paths
// the installation owns, relative to site-packages as pip expects: links
// without a hash (their content is the store's), forge-written files with one.
func WriteRecord(layer Venv, distInfo string, owned []Owned) error {
	site := layer.SitePackages()
	if fi, err := os.Lstat(filepath.Join(site, distInfo)); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if err := materialize(filepath.Join(site, distInfo)); err != nil {
			return err
		}
	}
	var lines []wheel.RecordEntry
	for _, o := range owned {
		abs := filepath.Join(layer.Root, filepath.FromSlash(o.Path))
		if o.Kind == "dir" {
			entries, _ := os.ReadDir(abs)
			for _, e := range entries {
				if e.Name() == "RECORD" {
					continue
				}
				lines = append(lines, recordLine(site, filepath.Join(abs, e.Name()), "file"))
			}
			continue
		}
		lines = append(lines, recordLine(site, abs, o.Kind))
	}
	rel, _ := filepath.Rel(site, filepath.Join(site, distInfo, "RECORD"))
	lines = append(lines, wheel.RecordEntry{Path: filepath.ToSlash(rel), Size: -1})
	sort.Slice(lines[:len(lines)-1], func(i, j int) bool { return lines[i].Path < lines[j].Path })
	record, err := wheel.FormatRecord(lines)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(site, distInfo, "RECORD"), record, 0o644)
}

// recordLine is the RECORD line of abs: without a hash for a link (its
// content is the store's) or for what is not a regular file.
func recordLine(site, abs string, kind LinkKind) wheel.RecordEntry {
	rel, err := filepath.Rel(site, abs)
	if err != nil {
		rel = abs
	}
	unhashed := wheel.RecordEntry{Path: filepath.ToSlash(rel), Size: -1}
	fi, err := os.Lstat(abs)
	if err != nil || kind == "link" || !fi.Mode().IsRegular() {
		return unhashed
	}
	f, err := os.Open(abs)
	if err != nil {
		return unhashed
	}
	defer f.Close()
	h := sha256.New()
	n, _ := io.Copy(h, f)
	return wheel.RecordEntry{Path: unhashed.Path, Algo: "sha256", Digest: h.Sum(nil), Size: n}
}

// data places a wheel's .data directory as pip does: scripts into bin/ with
// "#!python" rewritten, headers under include/site/pythonX.Y/NAME, data at
// the prefix, purelib and platlib into site-packages.
func (l *linkOp) data(dataDir string) error {
	kinds, err := os.ReadDir(dataDir)
	if err != nil {
		return err
	}
	for _, k := range kinds {
		src := filepath.Join(dataDir, k.Name())
		var dst string
		switch k.Name() {
		case "scripts":
			if err := l.dataScripts(src); err != nil {
				return err
			}
			continue
		case "headers":
			dst = l.p.Layer.Headers(l.p.Project)
		case "data":
			dst = l.p.Layer.Root
		case "purelib", "platlib":
			dst = l.p.Layer.SitePackages()
		default:
			return fmt.Errorf("unknown .data directory %q in %s", k.Name(), l.p.Owner)
		}
		if err := l.mkdirs(dst); err != nil {
			return err
		}
		if err := l.mergeDir(src, dst); err != nil {
			return err
		}
	}
	return nil
}

// mkdirs creates dst and its missing parents, remembering them for rollback.
func (l *linkOp) mkdirs(dst string) error {
	var missing []string
	for d := dst; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || d == filepath.Dir(d) {
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil {
			return err
		}
		l.created = append(l.created, missing[i])
	}
	return nil
}

func (l *linkOp) dataScripts(src string) error {
	files, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := l.mkdirs(l.p.Layer.Bin()); err != nil {
		return err
	}
	for _, f := range files {
		if f.IsDir() {
			return fmt.Errorf(".data/scripts/%s is a directory", f.Name())
		}
		data, err := os.ReadFile(filepath.Join(src, f.Name()))
		if err != nil {
			return err
		}
		if first, rest, ok := bytes.Cut(data, []byte("\n")); ok || len(first) > 0 {
			if bytes.HasPrefix(first, []byte("#!python")) {
				data = append([]byte(shebang(l.p.Launcher)), rest...)
			}
		}
		if err := l.writeOwned(filepath.Join(l.p.Layer.Bin(), f.Name()), data, 0o755); err != nil {
			return err
		}
	}
	return nil
}

func (l *linkOp) writeOwned(dst string, data []byte, mode os.FileMode) error {
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("%s is already provided by %s: %w", l.rel(dst), l.ownerOf(dst), ErrConflict)
	}
	if err := os.WriteFile(dst, data, mode); err != nil {
		return err
	}
	l.created = append(l.created, dst)
	l.own(dst, "file")
	return nil
}

// shebang is the first line(s) of a script run by python: a plain #! line,
// or pip's /bin/sh trampoline when the path is too long or has spaces.
func shebang(python string) string {
	if len(python) <= 120 && !strings.ContainsAny(python, " \t") {
		return "#!" + python + "\n"
	}
	return "#!/bin/sh\n'''exec' " + shellQuote(python) + " \"$0\" \"$@\"\n' '''\n"
}

// entryPoint is a console_scripts or gui_scripts entry.
type entryPoint struct{ name, module, attr string }

// entryPoints reads the entry's console_scripts and gui_scripts.
func (l *linkOp) entryPoints() ([]entryPoint, error) {
	data, err := os.ReadFile(filepath.Join(l.p.EntryDir, l.p.DistInfo, wheel.EntryPointsFile))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	scripts, err := wheel.ParseScripts(data)
	if err != nil {
		return nil, fmt.Errorf("entry_points.txt of %s: %w", l.p.DistInfo, err)
	}
	out := make([]entryPoint, 0, len(scripts))
	for _, ep := range scripts {
		out = append(out, entryPoint{ep.Name, ep.Module, ep.Attr})
	}
	if strings.EqualFold(l.p.Project, "pip") && l.p.Layer.Python != nil {
		out = pipLaunchers(out, l.p.Layer.Python.Major, l.p.Layer.Python.Minor)
	}
	return out, nil
}

// LauncherNames are the bin/ launchers Link writes for the entry points
// named in an entry's entry_points.txt (names, as read there) of project,
// for a layer of Python py: the same names, except pip's (pipLaunchers).
func LauncherNames(project string, py *probe.Interp, names []string) []string {
	if !strings.EqualFold(project, "pip") || py == nil {
		return names
	}
	eps := make([]entryPoint, len(names))
	for i, n := range names {
		eps[i] = entryPoint{name: n}
	}
	out := make([]string, 0, len(names)+1)
	for _, ep := range pipLaunchers(eps, py.Major, py.Minor) {
		out = append(out, ep.name)
	}
	return out
}

// pipVersionedRe matches pip's versioned launcher names: pip3, pip3.11.
var pipVersionedRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^pip\d+(\.\d+)?$`) })

// pipLaunchers renames pip's launchers as pip's own installer does: the
// wheel names the Python that built it (pip3.9 in the wheel Python 3.10
// bundles, none in 3.13's), so the versioned names are dropped and pip,
// pipX and pipX.Y are made for the Python that runs them.
func pipLaunchers(eps []entryPoint, major, minor int) []entryPoint {
	var pip *entryPoint
	out := eps[:0:0]
	for i, ep := range eps {
		switch {
		case ep.name == "pip":
			pip = &eps[i]
		case pipVersionedRe().MatchString(ep.name):
		default:
			out = append(out, ep)
		}
	}
	if pip == nil {
		return eps
	}
	for _, name := range []string{"pip", fmt.Sprintf("pip%d", major), fmt.Sprintf("pip%d.%d", major, minor)} {
		out = append(out, entryPoint{name, pip.module, pip.attr})
	}
	return out
}

// scripts writes a bin/ launcher for every console_scripts and gui_scripts
// entry point, run by the layer's interpreter.
func (l *linkOp) scripts() error {
	eps, err := l.entryPoints()
	if err != nil || len(eps) == 0 {
		return err
	}
	if err := l.mkdirs(l.p.Layer.Bin()); err != nil {
		return err
	}
	for _, ep := range eps {
		if err := l.writeOwned(filepath.Join(l.p.Layer.Bin(), ep.name), launcher(l.p.Launcher, ep.module, ep.attr), 0o755); err != nil {
			return err
		}
	}
	return nil
}

func launcher(python, module, attr string) []byte {
	root, _, _ := strings.Cut(attr, ".")
	return []byte(shebang(python) + `# -*- coding: utf-8 -*-
# Entry point launcher written by forge.
import re
import sys
from ` + module + ` import ` + root + `
if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\.pyw|\.exe)?$", "", sys.argv[0])
    sys.exit(` + attr + `())
`)
}
