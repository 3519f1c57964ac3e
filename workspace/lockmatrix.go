package workspace

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/lockfile"
	"github.com/forge-ml/forge/store"
)

// ErrNotCheckable: a locked wheel is neither in the store (by its sha256)
// nor a local file forge can read, so no verdict can be given for it.
var ErrNotCheckable = errors.New("not checkable")

// NotCheckable is a locked wheel without a verdict, and why.
type NotCheckable struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Wheel   string `json:"wheel"`
	Reason  string `json:"reason"`
}

// readLock reads and parses a lock file; its errors are lockfile's, or the
// file's own (missing: store.ErrNotFound).
func readLock(path string) (*lockfile.Lock, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("lock file %s: %w", path, store.ErrNotFound)
		}
		return nil, fmt.Errorf("lock file: %w", err)
	}
	return lockfile.Parse(path, data)
}

// lockMatrixItems are the rows of every wheel of every package a lock
// file lists (all of them, whatever interpreter they are for), from the
// fingerprint of the store entry with the wheel's sha256. A wheel not in
// the store whose path (or file: URL) is a local file is ingested first:
// its content must have the lock's sha256 (and size, when given), else the
// error wraps store.ErrCorrupt and nothing is ingested. A wheel with
// neither is returned in skipped. provided are the libraries of all rows.
func (w *Workspace) lockMatrixItems(ctx context.Context, lockPath string) (items []matrixItem, provided abi.CheckOptions, skipped []NotCheckable, err error) {
	l, err := readLock(lockPath)
	if err != nil {
		return nil, abi.CheckOptions{}, nil, err
	}
	base := filepath.Dir(lockPath)
	var fps []*abi.Fingerprint
	for pi := range l.Packages {
		p := &l.Packages[pi]
		layer := ""
		if p.Tool != nil && p.Tool.Forge != nil {
			layer = p.Tool.Forge.Layer
		}
		for _, wh := range p.Wheels {
			skip := NotCheckable{Name: p.Name, Version: p.Version, Wheel: wh.FileName()}
			sha := wh.SHA256()
			if sha == "" {
				skip.Reason = "the lock gives no sha256 for it (only " + hashNames(wh.Hashes) + ")"
				skipped = append(skipped, skip)
				continue
			}
			en, err := w.Store.Get(ctx, sha)
			if errors.Is(err, store.ErrNotFound) {
				local := localWheel(base, wh)
				if local == "" {
					skip.Reason = "not in the store, and the lock gives no local path to it"
					if wh.URL != "" {
						skip.Reason = "not in the store, and " + wh.URL + " is not a local file"
					}
					skipped = append(skipped, skip)
					continue
				}
				if _, serr := os.Stat(local); serr != nil {
					skip.Reason = "not in the store, and its path " + local + " cannot be read: " + serr.Error()
					skipped = append(skipped, skip)
					continue
				}
				en, err = w.ingestLocked(ctx, lockPath, p, wh, local)
			}
			if err != nil {
				return nil, abi.CheckOptions{}, nil, err
			}
			fps = append(fps, &en.Fingerprint)
			items = append(items, matrixItem{row: ABIMatrixRow{Name: en.Name, Version: en.Version, Entry: en.SHA256, Layer: layer, File: wh.FileName()}, fp: &en.Fingerprint, entry: en})
		}
	}
	return items, shippedLibs(fps...), skipped, nil
}

// localWheel is the file a locked wheel names on this machine: its path
// (relative to the lock file's directory, as the specification says), else
// a file: URL; "" when it names none.
func localWheel(base string, wh lockfile.Wheel) string {
	if wh.Path != "" {
		if filepath.IsAbs(wh.Path) {
			return wh.Path
		}
		return filepath.Join(base, filepath.FromSlash(wh.Path))
	}
	if u, err := url.Parse(wh.URL); err == nil && u.Scheme == "file" && (u.Host == "" || u.Host == "localhost") {
		return u.Path
	}
	return ""
}

// ingestLocked hashes a locked wheel's local file and ingests it only when
// it is what the lock says it is.
func (w *Workspace) ingestLocked(ctx context.Context, lockPath string, p *lockfile.Package, wh lockfile.Wheel, local string) (*store.Entry, error) {
	if _, err := verifyLocked(ctx, lockPath, p, wh, local); err != nil {
		return nil, err
	}
	res, err := w.Store.Ingest(ctx, local)
	if err != nil {
		return nil, fmt.Errorf("%s: package %s: wheel %s: %w", lockPath, p.ID(), local, err)
	}
	if err := lockedIngested(lockPath, p, wh, local, res.Entry); err != nil {
		return nil, err
	}
	return res.Entry, nil
}

// verifyLocked hashes a locked wheel's local file: its sha256 (and size,
// when the lock gives one) must be the lock's, else the error wraps
// store.ErrCorrupt and names the package, the file and both digests. It
// returns the file's size.
func verifyLocked(ctx context.Context, lockPath string, p *lockfile.Package, wh lockfile.Wheel, local string) (int64, error) {
	what := fmt.Sprintf("%s: package %s: wheel %s", lockPath, p.ID(), local)
	f, err := os.Open(local)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx, f})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != wh.SHA256() {
		return n, fmt.Errorf("%s: sha256 %s, the lock says %s: %w", what, got, wh.SHA256(), store.ErrCorrupt)
	}
	if wh.Size > 0 && n != wh.Size {
		return n, fmt.Errorf("%s: %d bytes, the lock says %d: %w", what, n, wh.Size, store.ErrCorrupt)
	}
	return n, nil
}

// lockedIngested checks that what the store ingested from local is the
// locked wheel: the file may have changed between verifyLocked and Ingest.
func lockedIngested(lockPath string, p *lockfile.Package, wh lockfile.Wheel, local string, en *store.Entry) error {
	if en.SHA256 != wh.SHA256() {
		return fmt.Errorf("%s: package %s: wheel %s: changed while read: sha256 %s, the lock says %s: %w", lockPath, p.ID(), local, en.SHA256, wh.SHA256(), store.ErrCorrupt)
	}
	return nil
}

// ctxReader stops a long read when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}

func hashNames(h map[string]string) string {
	var names []string
	for k := range h {
		names = append(names, k)
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
