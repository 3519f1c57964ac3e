package linker

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// Mode is how entry files appear in an environment.
type Mode string

const (
	Symlink  Mode = "symlink"
	Hardlink Mode = "hardlink"
	Copy     Mode = "copy"
)

// ParseMode checks a --link-mode value.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case Symlink, Hardlink, Copy:
		return Mode(s), nil
	}
	return "", fmt.Errorf("link mode %q: valid modes are symlink, hardlink, copy", s)
}

// SharedMarker is a file forge puts in every directory that it made real to
// merge several entries (see split).
const SharedMarker = ".forge-shared"

const sharedMarkerText = "This directory merges several packages linked by forge.\n"

// ErrNoDistInfo means an entry has no .dist-info directory.
var ErrNoDistInfo = errors.New("no .dist-info directory")

// ErrForeignData means an entry holds a .data directory other than its
// own (NAME-VERSION.data beside NAME-VERSION.dist-info).
var ErrForeignData = errors.New("foreign .data directory")

// ErrConflict means a path an entry needs is held by something else with
// different content.
var ErrConflict = errors.New("file conflict")

// Plan is a decided installation of one store entry into one layer.
type Plan struct {
	Layer     Venv   // where: the layer's prefix (an environment, or GLOBAL's)
	Launcher  string // interpreter for bin/ launchers and #!python scripts
	EntryDir  string // the entry in the store
	StoreRoot string // links must point below it
	DistInfo  string // "name-1.0.dist-info"; found in EntryDir when empty
	Project   string // project name, for headers
	Mode      Mode
	Requested bool
	Owner     string // identity recorded in messages (entry digest)
	// RealDirs are entry-relative directories ("pkga", "pkga/sub") that must
	// be real directories in the layer, not links: an ELF inside them finds
	// a sibling package through $ORIGIN/../.., and the kernel resolves ".."
	// physically, so through a link it would climb into the store.
	RealDirs map[string]bool
	// Bridges are links the layer needs so that the entry's RUNPATH reaches
	// a library directory another layer provides: torch in a child
	// environment looks in $ORIGIN/../../nvidia/cublas/lib, which only the
	// parent's site-packages has. Each is made unless something is there.
	Bridges     []Bridge
	OwnedByName func(relPath string) string
	// Views, when set, lets a plain symlink installation share its
	// .dist-info and link symlinks from the store (see linkShared).
	Views Views
}

// Bridge is a link at Path (relative to site-packages) to Target, an
// absolute directory in another layer; it is written as a relative link so
// that a copied FORGE_HOME keeps it pointing inside the copy.
type Bridge struct {
	Path   string
	Target string
}

// Owned is a path (relative to the layer root) that an installation created
// or shares.
type Owned struct {
	Path string   `json:"path"`
	Kind LinkKind `json:"kind"`
}

// LinkKind is what forge made at a path it owns in a layer. A string type:
// the links table, RECORD rewrites and JSON keep its spelling.
type LinkKind string

const (
	KindLink LinkKind = "link" // into the store: a symlink, hard link or copy of an entry's file
	KindFile LinkKind = "file" // written by forge: a launcher, INSTALLER, RECORD
	KindDir  LinkKind = "dir"  // the installed .dist-info directory, removed with its content
)

// Split records that an existing link to a directory was replaced by a real
// directory holding one link per child, so that another entry could merge
// into it. The entry that owned Path now owns Children instead.
type Split struct {
	Path     string   `json:"path"`
	Children []string `json:"children"`
}

// Result is what Link did.
type Result struct {
	Owned []Owned
	Split []Split
	Notes []string // e.g. hardlink fell back to copy
}

// Link materialises p. On error everything it created is removed again, so a
// package is either fully linked or not at all (splits are kept: they change
// no meaning).
func Link(p Plan) (res *Result, err error) {
	l := &linkOp{p: p, res: &Result{}}
	defer func() {
		if err != nil {
			l.rollback()
		}
	}()
	site := p.Layer.SitePackages()
	if err := os.MkdirAll(site, 0o755); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(p.EntryDir)
	if err != nil {
		return nil, err
	}
	if p.DistInfo == "" {
		if p.DistInfo = findDistInfo(entries); p.DistInfo == "" {
			return nil, fmt.Errorf("%s: %w", p.EntryDir, ErrNoDistInfo)
		}
		l.p.DistInfo = p.DistInfo
	}
	if ok, err := l.linkShared(entries); ok || err != nil {
		if err != nil {
			return nil, err
		}
		return l.res, nil
	}
	dataDir := ""
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == p.DistInfo:
			continue
		case strings.HasSuffix(name, ".data") && e.IsDir():
			// Only the wheel's own: ingest refuses others, but an entry
			// stored before it did may hold one, and which of several would
			// be placed depended on their order.
			if own := strings.TrimSuffix(p.DistInfo, ".dist-info") + ".data"; name != own {
				return nil, fmt.Errorf("%s: %s is not its own .data directory (%s): %w", p.Owner, name, own, ErrForeignData)
			}
			dataDir = name
			continue
		}
		if err := l.place(filepath.Join(p.EntryDir, name), filepath.Join(site, name), e.IsDir()); err != nil {
			return nil, err
		}
	}
	if dataDir != "" {
		if err := l.data(filepath.Join(p.EntryDir, dataDir)); err != nil {
			return nil, err
		}
	}
	if err := l.bridges(); err != nil {
		return nil, err
	}
	if err := l.scripts(); err != nil {
		return nil, err
	}
	if err := l.distInfo(); err != nil {
		return nil, err
	}
	return l.res, nil
}

type linkOp struct {
	p       Plan
	res     *Result
	created []string // absolute paths, in creation order, for rollback
}

// bridges makes p.Bridges: the missing directories above each as real
// directories, then a relative link. A path that exists already is left
// alone: something in this layer provides it.
func (l *linkOp) bridges() error {
	site := l.p.Layer.SitePackages()
	for _, b := range l.p.Bridges {
		dst := filepath.Join(site, filepath.FromSlash(b.Path))
		if !within(dst, site) || dst == site {
			return fmt.Errorf("bridge %s: outside site-packages", b.Path)
		}
		if _, err := os.Lstat(dst); err == nil {
			continue
		}
		// site exists (link made it), so mkdirs stops there at the latest.
		if err := l.mkdirs(filepath.Dir(dst)); err != nil {
			return err
		}
		target, err := filepath.Rel(filepath.Dir(dst), b.Target)
		if err != nil {
			target = b.Target
		}
		if err := os.Symlink(target, dst); err != nil {
			return err
		}
		l.created = append(l.created, dst)
		l.own(dst, KindLink)
	}
	return nil
}

func (l *linkOp) rel(abs string) string {
	r, err := filepath.Rel(l.p.Layer.Root, abs)
	if err != nil {
		return abs
	}
	return filepath.ToSlash(r)
}

func (l *linkOp) own(abs string, kind LinkKind) {
	l.res.Owned = append(l.res.Owned, Owned{Path: l.rel(abs), Kind: kind})
}

func (l *linkOp) rollback() {
	for i := len(l.created) - 1; i >= 0; i-- {
		os.RemoveAll(l.created[i])
	}
}

// place puts src (a store file or directory) at dst, merging into what is
// already there.
func (l *linkOp) place(src, dst string, srcIsDir bool) error {
	fi, err := os.Lstat(dst)
	if errors.Is(err, fs.ErrNotExist) {
		return l.create(src, dst, srcIsDir)
	}
	if err != nil {
		return err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(dst)
		if err != nil {
			return err
		}
		if target == src && !l.mustBeReal(src) {
			l.own(dst, KindLink) // already ours: a reinstall
			return nil
		}
		// forge's links are absolute (into the store). A relative one is
		// the environment's own (lib64 -> lib, bin/python3 -> python):
		// merging into it would replace it by a directory of links, and
		// resolving its target would depend on the working directory.
		if !filepath.IsAbs(target) {
			return fmt.Errorf("%s is the environment's own link to %s, not one forge made: %w", l.rel(dst), target, ErrConflict)
		}
		tfi, err := os.Stat(dst)
		if err != nil {
			return fmt.Errorf("%s: broken link to %s: %w", l.rel(dst), target, ErrConflict)
		}
		if srcIsDir && tfi.IsDir() {
			if err := l.split(dst, target); err != nil {
				return err
			}
			return l.mergeDir(src, dst)
		}
		if !srcIsDir && tfi.Mode().IsRegular() && sameContent(src, dst) {
			l.own(dst, KindLink) // identical file shipped by two projects
			return nil
		}
	case fi.IsDir():
		if srcIsDir {
			return l.mergeDir(src, dst)
		}
	case fi.Mode().IsRegular():
		if !srcIsDir && sameContent(src, dst) {
			l.own(dst, KindLink)
			return nil
		}
	}
	return fmt.Errorf("%s is already provided by %s: %w", l.rel(dst), l.ownerOf(dst), ErrConflict)
}

func (l *linkOp) ownerOf(dst string) string {
	if l.p.OwnedByName != nil {
		if o := l.p.OwnedByName(l.rel(dst)); o != "" {
			return o
		}
	}
	return "another package"
}

func (l *linkOp) mustBeReal(src string) bool {
	if len(l.p.RealDirs) == 0 {
		return false
	}
	rel, err := filepath.Rel(l.p.EntryDir, src)
	return err == nil && l.p.RealDirs[filepath.ToSlash(rel)]
}

func (l *linkOp) mergeDir(src, dst string) error {
	children, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, c := range children {
		if err := l.place(filepath.Join(src, c.Name()), filepath.Join(dst, c.Name()), c.IsDir()); err != nil {
			return err
		}
	}
	return nil
}

// split replaces the link dst → target (a directory) by a real directory of
// links to target's children.
func (l *linkOp) split(dst, target string) error {
	children, err := os.ReadDir(target)
	if err != nil {
		return err
	}
	tmp, err := newSplitTemp(dst)
	if err != nil {
		return err
	}
	// The marker keeps pip from reading the directory as wholly owned by one
	// package: pip uninstall removes a directory whose every *file* it owns,
	// and links to directories do not count as files.
	if err := os.WriteFile(filepath.Join(tmp, SharedMarker), []byte(sharedMarkerText), 0o444); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	s := Split{Path: l.rel(dst)}
	for _, c := range children {
		if err := os.Symlink(filepath.Join(target, c.Name()), filepath.Join(tmp, c.Name())); err != nil {
			os.RemoveAll(tmp)
			return err
		}
		s.Children = append(s.Children, s.Path+"/"+c.Name())
	}
	if err := replaceLink(tmp, dst); err != nil {
		return err
	}
	l.res.Split = append(l.res.Split, s)
	return nil
}

// create makes dst for src according to the mode.
func (l *linkOp) create(src, dst string, srcIsDir bool) error {
	if l.p.Mode == Symlink && !(srcIsDir && l.mustBeReal(src)) {
		if err := os.Symlink(src, dst); err != nil {
			return err
		}
		l.created = append(l.created, dst)
		l.own(dst, KindLink)
		return nil
	}
	if srcIsDir {
		if err := os.Mkdir(dst, 0o755); err != nil {
			return err
		}
		l.created = append(l.created, dst)
		return l.mergeDir(src, dst)
	}
	if l.p.Mode == Hardlink {
		err := os.Link(src, dst)
		if err == nil {
			l.created = append(l.created, dst)
			l.own(dst, KindLink)
			return nil
		}
		if !errors.Is(err, syscall.EXDEV) && !errors.Is(err, syscall.EMLINK) && !errors.Is(err, syscall.EPERM) {
			return err
		}
		if len(l.res.Notes) == 0 {
			l.res.Notes = append(l.res.Notes, fmt.Sprintf("hardlink not possible (%v): copied instead", errors.Unwrap(err)))
		}
	}
	if err := copyFile(src, dst); err != nil {
		return err
	}
	l.created = append(l.created, dst)
	l.own(dst, KindFile)
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	// Written beside dst and renamed: a crash never leaves a partial file
	// under dst's name (doctor removes a leftover CopyTemp).
	tmp := CopyTemp(dst)
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, st.Mode().Perm()|0o200)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}

// SplitTemp is where the real directory replacing the link dst is staged;
// whatever is there is removed first. Its name is reserved in wheels
// (wheel.IsForgeWorkName).
func SplitTemp(dst string) string { return dst + ".forge-split" }

// newSplitTemp makes SplitTemp(dst) afresh (removing what a crash left
// there): the empty directory that is filled before it takes the place of
// the link dst (see replaceLink).
func newSplitTemp(dst string) (string, error) {
	tmp := SplitTemp(dst)
	os.RemoveAll(tmp)
	return tmp, os.Mkdir(tmp, 0o755)
}

// replaceLink puts the directory tmp in the place of the link dst.
// rename(2) cannot replace a symlink by a directory: remove, then rename.
// A crash between the two leaves dst missing; doctor relinks it. When dst
// cannot be removed, tmp is removed instead.
func replaceLink(tmp, dst string) error {
	if err := os.Remove(dst); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}

// CopyTemp is where a copy of dst is written before it is renamed to dst.
func CopyTemp(dst string) string {
	return filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".forge-tmp")
}

// sameContent compares two files byte for byte (they are small in practice:
// __init__.py files shipped by several namespace wheels).
func sameContent(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	if err != nil || fa.Size() != fb.Size() {
		return false
	}
	if os.SameFile(fa, fb) {
		return true
	}
	ha, hb := fileHash(a), fileHash(b)
	return ha != nil && bytes.Equal(ha, hb)
}

func fileHash(p string) []byte {
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil
	}
	return h.Sum(nil)
}

// Unlink removes the paths an installation owned (relative to the layer
// root), never following a link, and then prunes directories left empty up to
// site-packages. Paths still owned by another entry must not be passed.
func Unlink(layer Venv, paths []Owned) error {
	var errs []error
	dirs := map[string]bool{}
	for _, o := range paths {
		abs := filepath.Join(layer.Root, filepath.FromSlash(o.Path))
		if !within(abs, layer.Root) {
			errs = append(errs, fmt.Errorf("refusing to remove %s: outside %s", o.Path, layer.Root))
			continue
		}
		var err error
		if o.Kind == KindDir {
			err = removeAllNoFollow(abs)
		} else {
			err = os.Remove(abs)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
		dirs[filepath.Dir(abs)] = true
	}
	stop := map[string]bool{layer.Root: true, layer.SitePackages(): true, layer.Bin(): true}
	var ds []string
	for d := range dirs {
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return len(ds[i]) > len(ds[j]) })
	for _, d := range ds {
		for d != "" && !stop[d] && within(d, layer.Root) {
			if ents, err := os.ReadDir(d); err == nil && len(ents) == 1 && ents[0].Name() == SharedMarker {
				os.Remove(filepath.Join(d, SharedMarker))
			}
			if os.Remove(d) != nil { // fails unless empty
				break
			}
			d = filepath.Dir(d)
		}
	}
	return errors.Join(errs...)
}

// removeAllNoFollow removes a real directory of links and forge-written files.
// os.RemoveAll unlinks symlinks without following them.
func removeAllNoFollow(p string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return os.Remove(p)
	}
	return os.RemoveAll(p)
}

func within(p, root string) bool {
	r, err := filepath.Rel(root, p)
	return err == nil && r != ".." && !strings.HasPrefix(r, "../")
}
