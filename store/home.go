package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The absolute paths forge writes (environment rows, links into the store,
// interpreter paths in launchers) name the home they were made in. The
// home's own path is recorded in meta ('home') so that a home that was
// copied or moved is recognised on open and re-rooted before any command
// acts on it: otherwise its rows and links still name the original, and a
// command on the copy would act there.

// RecordedHome returns the home path recorded in forge.db: "" when none
// was (a home made before forge recorded it), then inferred from the
// environment rows (each at HOME/envs/NAME) when there are any.
func (s *Store) RecordedHome(ctx context.Context) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT CAST(value AS TEXT) FROM meta WHERE key = 'home'`).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", err
	}
	var p string
	err = s.db.QueryRowContext(ctx, `SELECT path FROM envs ORDER BY name LIMIT 1`).Scan(&p)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if filepath.Base(filepath.Dir(p)) != "envs" {
		return "", nil
	}
	return filepath.Dir(filepath.Dir(p)), nil
}

// SetHome records home as this database's home and moves the environment
// rows that lie under old (when not "") to the same place under home, in
// one transaction: the commit is what says a re-rooting is complete.
func (s *Store) SetHome(ctx context.Context, old, home string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if old != "" && old != home {
		prefix := old + string(filepath.Separator)
		if _, err := tx.ExecContext(ctx, `UPDATE envs SET path = ? || substr(path, ?) WHERE substr(path, 1, ?) = ?`,
			home, len(old)+1, len(prefix), prefix); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('home', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, home); err != nil {
		return err
	}
	return tx.Commit()
}

// Retarget replaces a symlink whose target lies under old by one to the
// same place under home, atomically (a new link renamed over it: a link
// hard-linked elsewhere keeps its old inode there, and is retargeted where
// it is met). It reports whether it changed the link.
func Retarget(link, old, home string) (bool, error) {
	t, err := os.Readlink(link)
	if err != nil {
		return false, err
	}
	r, err := filepath.Rel(old, t)
	if !filepath.IsAbs(t) || err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return false, nil
	}
	tmp := fmt.Sprintf("%s.forge-tmp-rehome", link)
	os.Remove(tmp)
	if err := os.Symlink(filepath.Join(home, r), tmp); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return false, err
	}
	return true, nil
}

// RetargetViews re-points the symlinks of the shared layouts (views/) that
// name old's store to this home's. It returns how many it changed.
func (s *Store) RetargetViews(old string) (int, error) {
	n := 0
	err := filepath.WalkDir(s.ViewsDir(), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		ok, err := Retarget(p, old, s.home)
		if ok {
			n++
		}
		return err
	})
	return n, err
}
