package abireport

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/lockfile"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
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

// lockMatrixItems are the rows of every wheel of every package a lock
// file lists (all of them, whatever interpreter they are for), from the
// fingerprint of the store entry with the wheel's sha256. A wheel not in
// the store whose path (or file: URL) is a local file is ingested first:
// its content must have the lock's sha256 (and size, when given), else the
// error wraps store.ErrCorrupt and nothing is ingested. A wheel with
// neither is returned in skipped. provided are the libraries of all rows.
func lockMatrixItems(ctx context.Context, w *workspace.Workspace, lockPath string) (items []matrixItem, provided abi.CheckOptions, skipped []NotCheckable, err error) {
	l, err := workspace.ReadLock(lockPath)
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
				skip.Reason = "the lock gives no sha256 for it (only " + workspace.HashNames(wh.Hashes) + ")"
				skipped = append(skipped, skip)
				continue
			}
			en, err := w.Store.Get(ctx, sha)
			if errors.Is(err, store.ErrNotFound) {
				local := workspace.LocalWheel(base, wh)
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
				en, err = ingestLocked(ctx, w, lockPath, p, wh, local)
			}
			if err != nil {
				return nil, abi.CheckOptions{}, nil, err
			}
			fps = append(fps, &en.Fingerprint)
			items = append(items, matrixItem{row: MatrixRow{Name: en.Name, Version: en.Version, Entry: en.SHA256, Layer: layer, File: wh.FileName()}, fp: &en.Fingerprint, entry: en})
		}
	}
	return items, workspace.ShippedLibs(fps...), skipped, nil
}

// ingestLocked hashes a locked wheel's local file and ingests it only when
// it is what the lock says it is.
func ingestLocked(ctx context.Context, w *workspace.Workspace, lockPath string, p *lockfile.Package, wh lockfile.Wheel, local string) (*store.Entry, error) {
	if _, err := workspace.VerifyLocked(ctx, lockPath, p, wh, local); err != nil {
		return nil, err
	}
	res, err := w.Store.Ingest(ctx, local)
	if err != nil {
		return nil, fmt.Errorf("%s: package %s: wheel %s: %w", lockPath, p.ID(), local, err)
	}
	if err := workspace.LockedIngested(lockPath, p, wh, local, res.Entry); err != nil {
		return nil, err
	}
	return res.Entry, nil
}
