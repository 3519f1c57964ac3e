package linker

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/forge-ml/forge/wheel"
)

// Views is the store's side of the shared installation layout (see
// linkShared): one installed .dist-info per entry and RECORD, kept in the
// store, and symlinks in the store that environments hard-link.
type Views interface {
	// View returns, creating them on first use, a symlink to the shared
	// .dist-info of the entry installed as key says, and one symlink per
	// top-level item (tops, in order) pointing into the entry. key names
	// everything the installed RECORD depends on besides the entry itself;
	// record is called only when the view must be made. Environments
	// hard-link these symlinks: linking allocates no inode and no block, so
	// a further environment costs directory entries only.
	View(distInfo string, tops []string, key string, requested bool, record func() ([]byte, error)) (distLink string, topLinks []string, err error)
}

// linkShared installs p as one hard-linked store symlink per top-level item
// and one for the .dist-info, which is shared by every environment that
// installs the entry this way (its RECORD lists exactly these paths, so pip
// uninstall inside an environment removes the links and nothing in the
// store). It applies only to the plain case: symlink mode, no .data, no
// directory that must be real, and nothing in the way. ok is false when p
// needs the general path; nothing is left behind then.
func (l *linkOp) linkShared(entries []os.DirEntry) (ok bool, err error) {
	p := l.p
	tops, scripts, ok, err := l.sharedParts(entries)
	if !ok || err != nil {
		return false, err
	}
	site := p.Layer.SitePackages()
	for _, s := range scripts {
		if _, err := os.Lstat(filepath.Join(p.Layer.Bin(), s.name)); err == nil {
			return false, nil // the general path reports the conflict
		}
	}
	distLink, topLinks, err := l.view(tops, scripts)
	if err != nil {
		return false, err
	}
	for i, name := range tops {
		dst := filepath.Join(site, name)
		if err := linkProto(topLinks[i], dst); err != nil {
			l.rollback()
			l.created, l.res.Owned = nil, nil
			if errors.Is(err, fs.ErrExist) {
				return false, nil // merge or reinstall: the general path
			}
			return false, err
		}
		l.created = append(l.created, dst)
		l.own(dst, KindLink)
	}
	if len(scripts) > 0 {
		if err := l.mkdirs(p.Layer.Bin()); err != nil {
			return true, err
		}
	}
	for _, s := range scripts {
		if err := l.writeOwned(filepath.Join(p.Layer.Bin(), s.name), launcher(p.Launcher, s.module, s.attr), 0o755); err != nil {
			return true, err
		}
	}
	dst := filepath.Join(site, p.DistInfo)
	if err := linkProto(distLink, dst); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return true, errors.Join(err, ErrConflict)
		}
		return true, err
	}
	l.created = append(l.created, dst)
	l.own(dst, KindDir)
	return true, nil
}

// sharedParts returns the top-level items and launchers of the plain case
// (see linkShared); ok is false when p needs the general path.
func (l *linkOp) sharedParts(entries []os.DirEntry) (tops []string, scripts []entryPoint, ok bool, err error) {
	p := l.p
	if p.Views == nil || p.Mode != Symlink || len(p.RealDirs) > 0 {
		return nil, nil, false, nil
	}
	for _, e := range entries {
		name := e.Name()
		if name == p.DistInfo {
			continue
		}
		if strings.HasSuffix(name, ".data") && e.IsDir() {
			return nil, nil, false, nil
		}
		tops = append(tops, name)
	}
	scripts, err = l.entryPoints()
	if err != nil {
		return nil, nil, false, err
	}
	return tops, scripts, true, nil
}

// view returns the entry's shared .dist-info and top-level symlinks for
// p's layer, made on first use.
func (l *linkOp) view(tops []string, scripts []entryPoint) (distLink string, topLinks []string, err error) {
	p := l.p
	binRel, err := filepath.Rel(p.Layer.SitePackages(), p.Layer.Bin())
	if err != nil {
		return "", nil, err
	}
	// The RECORD is a function of the entry, the .dist-info's name, where
	// bin/ is and whether the package was requested; for pip, of the
	// Python X.Y too, which names a launcher (pipLaunchers).
	id := fmt.Sprintf("%s\x00%s\x00%v", p.DistInfo, binRel, p.Requested)
	if strings.EqualFold(p.Project, "pip") && p.Layer.Python != nil {
		id += "\x00" + p.Layer.Python.XY()
	}
	sum := sha256.Sum256([]byte(id))
	key := hex.EncodeToString(sum[:8])
	record := func() ([]byte, error) { return l.sharedRecord(tops, scripts, binRel) }
	return p.Views.View(p.DistInfo, tops, key, p.Requested, record)
}

// PrepareView makes, if missing, the shared layout Link would hard-link for
// p (see linkShared), without touching p.Layer: a caller linking several
// new entries one by one builds their views first, in parallel. It does
// nothing for a plan that takes the general path; Link reports whatever
// error it returns again.
func PrepareView(p Plan) error {
	entries, err := os.ReadDir(p.EntryDir)
	if err != nil {
		return err
	}
	l := &linkOp{p: p, res: &Result{}}
	if l.p.DistInfo == "" {
		if l.p.DistInfo = findDistInfo(entries); l.p.DistInfo == "" {
			return fmt.Errorf("%s: %w", p.EntryDir, ErrNoDistInfo)
		}
	}
	tops, scripts, ok, err := l.sharedParts(entries)
	if !ok || err != nil {
		return err
	}
	_, _, err = l.view(tops, scripts)
	return err
}

// findDistInfo returns the name of the .dist-info directory among an
// entry's top-level items, or "".
func findDistInfo(entries []os.DirEntry) string {
	for _, e := range entries {
		if e.IsDir() && strings.HasSuffix(e.Name(), ".dist-info") {
			return e.Name()
		}
	}
	return ""
}

// linkProto hard-links the store symlink proto at dst, or, where the store
// is on another file system or the link count is exhausted, creates an
// equal symlink.
func linkProto(proto, dst string) error {
	err := os.Link(proto, dst)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	if !errors.Is(err, syscall.EXDEV) && !errors.Is(err, syscall.EMLINK) && !errors.Is(err, syscall.EPERM) {
		return err
	}
	target, rerr := os.Readlink(proto)
	if rerr != nil {
		return errors.Join(err, rerr)
	}
	return os.Symlink(target, dst)
}

// sharedRecord is the RECORD of a shared .dist-info: the top-level links,
// the launchers and the .dist-info itself (so that pip removes the link to
// it), then the .dist-info's files as they appear through it. Paths are
// relative to site-packages; nothing carries a hash, since launchers differ
// between environments and the rest is the store's.
func (l *linkOp) sharedRecord(tops []string, scripts []entryPoint, binRel string) ([]byte, error) {
	names := append([]string{l.p.DistInfo}, tops...)
	for _, s := range scripts {
		names = append(names, filepath.ToSlash(filepath.Join(binRel, s.name)))
	}
	files := map[string]bool{"INSTALLER": true, "RECORD": true}
	if l.p.Requested {
		files["REQUESTED"] = true
	}
	src := filepath.Join(l.p.EntryDir, l.p.DistInfo)
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if !wheel.IsInstallerFile(rel) {
			files[filepath.ToSlash(rel)] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for f := range files {
		names = append(names, l.p.DistInfo+"/"+f)
	}
	sort.Strings(names)
	lines := make([]wheel.RecordEntry, len(names))
	for i, n := range names {
		lines[i] = wheel.RecordEntry{Path: n, Size: -1}
	}
	return wheel.FormatRecord(lines)
}

// materialize replaces a link to a shared .dist-info by a real directory
// of links to its files, with forge's own INSTALLER and REQUESTED, ready for
// a RECORD of this environment's own (after another package split one of
// this one's directories, say).
func materialize(dir string) error {
	target, err := os.Readlink(dir)
	if err != nil {
		return err
	}
	tmp, err := newSplitTemp(dir)
	if err != nil {
		return err
	}
	files, err := os.ReadDir(target)
	if err == nil {
		for _, f := range files {
			switch f.Name() {
			case "RECORD":
				continue
			case "INSTALLER", "REQUESTED":
				var data []byte
				if data, err = os.ReadFile(filepath.Join(target, f.Name())); err == nil {
					err = os.WriteFile(filepath.Join(tmp, f.Name()), data, 0o644)
				}
			default:
				err = os.Symlink(filepath.Join(target, f.Name()), filepath.Join(tmp, f.Name()))
			}
			if err != nil {
				break
			}
		}
	}
	if err != nil {
		os.RemoveAll(tmp)
		return err
	}
	// A crash in replaceLink leaves the .dist-info missing, and doctor
	// relinks the package.
	return replaceLink(tmp, dir)
}
