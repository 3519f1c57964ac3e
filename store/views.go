package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/forge-ml/forge/wheel"
)

// ViewsDir holds, per entry, what environments share of its installation
// (see EntryViews): views/<sha>/links/<item> are symlinks to the entry's
// top-level items, views/<sha>/<key>/ is an installed .dist-info (the
// entry's files hard-linked, with forge's INSTALLER, REQUESTED and RECORD)
// and views/<sha>/<key>.link a symlink to it. It lives and dies with the
// entry: gc removes both.
func (s *Store) ViewsDir() string { return filepath.Join(s.home, "store", "views") }

// validViewKey: 16 lower-case hex digits, so a key is a plain name.
func validViewKey(k string) bool { return isLowerHex(k, 16) }

// EntryViews implements linker.Views for one entry.
type EntryViews struct {
	s   *Store
	ctx context.Context
	sha string
}

// Views returns the shared installation layout of entry sha.
func (s *Store) Views(ctx context.Context, sha string) *EntryViews {
	return &EntryViews{s: s, ctx: ctx, sha: sha}
}

// View returns the symlinks environments hard-link for this entry: one to
// the shared .dist-info installed as key says, and one per top-level item.
// They are made on first use, under the entry's ingest lock; the .link
// symlink, renamed into place last, is what says a view is complete.
func (v *EntryViews) View(distInfo string, tops []string, key string, requested bool, record func() ([]byte, error)) (string, []string, error) {
	if !isDigest(v.sha) {
		return "", nil, fmt.Errorf("entry %q: not a sha256 digest: %w", v.sha, ErrInvalid)
	}
	if !validViewKey(key) {
		return "", nil, fmt.Errorf("view key %q: %w", key, ErrInvalid)
	}
	dir := filepath.Join(v.s.ViewsDir(), v.sha)
	distLink := filepath.Join(dir, key+".link")
	topLinks := make([]string, len(tops))
	for i, t := range tops {
		if t != filepath.Base(t) || t == "." || t == ".." {
			return "", nil, fmt.Errorf("entry %s: top-level item %q: %w", v.sha, t, ErrInvalid)
		}
		topLinks[i] = filepath.Join(dir, "links", t)
	}
	if _, err := os.Lstat(distLink); err == nil && allExist(topLinks) {
		return distLink, topLinks, nil
	}
	lk, err := v.s.lockIngest(v.ctx, v.sha)
	if err != nil {
		return "", nil, err
	}
	defer lk.Unlock()
	if err := os.MkdirAll(filepath.Join(dir, "links"), 0o755); err != nil {
		return "", nil, err
	}
	entry := v.s.EntryDir(v.sha)
	for i, t := range tops {
		if err := ensureSymlink(filepath.Join(entry, t), topLinks[i]); err != nil {
			return "", nil, err
		}
	}
	if _, err := os.Lstat(distLink); err == nil {
		return distLink, topLinks, nil
	}
	view := filepath.Join(dir, key)
	rec, err := record()
	if err != nil {
		return "", nil, err
	}
	if err := v.buildView(filepath.Join(entry, distInfo), view, rec, requested); err != nil {
		return "", nil, fmt.Errorf("entry %s: shared .dist-info: %w", v.sha, err)
	}
	if err := ensureSymlink(view, distLink); err != nil {
		return "", nil, err
	}
	return distLink, topLinks, nil
}

// buildView makes the installed .dist-info at view (wheel.InstallDistInfo)
// from the entry's own, hard-linking its files: same inodes, no copies. It
// is built in place: nothing uses a view before its .link exists, and a
// leftover of an interrupted build (no .link yet) is replaced.
func (v *EntryViews) buildView(src, view string, record []byte, requested bool) error {
	if _, err := os.Lstat(view); err == nil {
		if err := removeTree(view); err != nil {
			return err
		}
	}
	if err := os.Mkdir(view, 0o755); err != nil {
		return err
	}
	dirs := []string{view}
	place := func(src, dst string, d fs.DirEntry) error {
		if !d.IsDir() {
			return os.Link(src, dst)
		}
		return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			to := filepath.Join(dst, rel)
			if !d.IsDir() {
				return os.Link(p, to)
			}
			dirs = append(dirs, to)
			return os.Mkdir(to, 0o755)
		})
	}
	if record == nil {
		record = []byte{} // an empty RECORD is still forge's, not the wheel's
	}
	err := wheel.InstallDistInfo(src, view, wheel.DistInfoOptions{Place: place, Requested: requested, Record: record, Perm: 0o444})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chmod(dirs[i], 0o555); err != nil {
			return err
		}
	}
	return nil
}

// ensureSymlink makes link a symlink to target, atomically replacing
// anything else under that name.
func ensureSymlink(target, link string) error {
	err := os.Symlink(target, link)
	if err == nil || !errors.Is(err, fs.ErrExist) {
		return err
	}
	if t, err := os.Readlink(link); err == nil && t == target {
		return nil
	}
	tmp := fmt.Sprintf("%s.%d.forge-tmp", link, time.Now().UnixNano())
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, link)
}

func allExist(paths []string) bool {
	for _, p := range paths {
		if _, err := os.Lstat(p); err != nil {
			return false
		}
	}
	return true
}

// removeViews deletes the shared layout of an entry (after its row).
func (s *Store) removeViews(sha string) error {
	err := s.discardDir(filepath.Join(s.ViewsDir(), sha), "gc-views-"+sha[:16])
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
