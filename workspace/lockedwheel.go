package workspace

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/forge-ml/forge/internal/ctxio"
	"github.com/forge-ml/forge/lockfile"
	"github.com/forge-ml/forge/store"
)

// ReadLock reads and parses a lock file; its errors are lockfile's, or the
// file's own (missing: store.ErrNotFound).
func ReadLock(path string) (*lockfile.Lock, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("lock file %s: %w", path, store.ErrNotFound)
		}
		return nil, fmt.Errorf("lock file: %w", err)
	}
	return lockfile.Parse(path, data)
}

// LocalWheel is the file a locked wheel names on this machine: its path
// (relative to the lock file's directory, as the specification says), else
// a file: URL; "" when it names none.
func LocalWheel(base string, wh lockfile.Wheel) string {
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

// VerifyLocked hashes a locked wheel's local file: its sha256 (and size,
// when the lock gives one) must be the lock's, else the error wraps
// store.ErrCorrupt and names the package, the file and both digests. It
// returns the file's size.
func VerifyLocked(ctx context.Context, lockPath string, p *lockfile.Package, wh lockfile.Wheel, local string) (int64, error) {
	what := fmt.Sprintf("%s: package %s: wheel %s", lockPath, p.ID(), local)
	f, err := os.Open(local)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, ctxio.Reader(ctx, f))
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

// LockedIngested checks that what the store ingested from local is the
// locked wheel: the file may have changed between VerifyLocked and Ingest.
func LockedIngested(lockPath string, p *lockfile.Package, wh lockfile.Wheel, local string, en *store.Entry) error {
	if en.SHA256 != wh.SHA256() {
		return fmt.Errorf("%s: package %s: wheel %s: changed while read: sha256 %s, the lock says %s: %w", lockPath, p.ID(), local, en.SHA256, wh.SHA256(), store.ErrCorrupt)
	}
	return nil
}

// HashNames lists the hash algorithms a lock gives for a wheel, sorted, for
// messages ("none" when it gives none).
func HashNames(h map[string]string) string {
	if len(h) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(h)), ", ")
}
