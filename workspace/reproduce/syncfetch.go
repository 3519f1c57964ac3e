package reproduce

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/forge-ml/forge/lockfile"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
)

// wheelSource is where a locked wheel that is not in the store comes from.
type wheelSource struct {
	// file is a local wheel file: the lock's path (relative to the lock
	// file's directory), a file: URL, or --find-links DIR/NAME. After pip
	// downloaded a wheel, the downloaded file.
	file string
	// pipReq is the requirement pip download fetches: "name @ URL" for an
	// http(s) URL, or "name==version" from --find-links.
	pipReq string
}

func (s wheelSource) String() string {
	switch {
	case s.pipReq != "":
		return "pip download " + s.pipReq
	case s.file != "":
		return s.file
	}
	return ""
}

// lockedSource says where a selected wheel not in the store is fetched
// from, in this order: the lock's path or file: URL when that file is
// there; --find-links DIR/<file name>; pip download of an http(s) URL (or,
// with --find-links, of name==version with --no-index). A URL of another
// scheme is ErrUsage; a wheel none of these reaches is store.ErrNotFound.
func lockedSource(o SyncOptions, s lockfile.Selected) (wheelSource, error) {
	name := s.Wheel.FileName()
	what := fmt.Sprintf("%s: package %s: wheel %s", o.Lock, s.Package.ID(), name)
	var tried []string
	if local := workspace.LocalWheel(filepath.Dir(o.Lock), s.Wheel); local != "" {
		if regularFile(local) {
			return wheelSource{file: local}, nil
		}
		tried = append(tried, local+" is not there")
	}
	if o.FindLinks != "" {
		p := filepath.Join(o.FindLinks, name)
		if regularFile(p) {
			return wheelSource{file: p}, nil
		}
		tried = append(tried, "--find-links "+o.FindLinks+" has no "+name)
	}
	if s.Wheel.URL != "" {
		u, err := url.Parse(s.Wheel.URL)
		if err != nil {
			return wheelSource{}, fmt.Errorf("%s: url %q: %v: %w", what, s.Wheel.URL, err, workspace.ErrUsage)
		}
		switch strings.ToLower(u.Scheme) {
		case "http", "https":
			if o.FindLinks == "" {
				return wheelSource{pipReq: s.Package.Name + " @ " + s.Wheel.URL}, nil
			}
		case "file":
			// Not on this machine (workspace.LocalWheel found no file above).
		default:
			return wheelSource{}, fmt.Errorf("%s: url %s: forge cannot fetch a %q URL (only http, https and file); give --find-links with the wheel: %w",
				what, s.Wheel.URL, u.Scheme, workspace.ErrUsage)
		}
	}
	if o.FindLinks != "" {
		return wheelSource{pipReq: s.Package.Name + "==" + s.File.Version}, nil
	}
	if len(tried) == 0 {
		tried = append(tried, "the lock gives no path or url")
	}
	return wheelSource{}, fmt.Errorf("%s (sha256 %s) is not in the store and cannot be fetched (%s); give --find-links DIR with it: %w",
		what, s.Wheel.SHA256(), strings.Join(tried, "; "), store.ErrNotFound)
}

func regularFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// fetchLocked brings every wanted wheel that is not in the store into it:
// pip downloads what needs pip (one run, into a staging directory under
// $FORGE_HOME/tmp, removed after), then every file is hashed, in parallel,
// and must have the lock's sha256 and size (else store.ErrCorrupt, naming
// the package, the file and both digests, and nothing is ingested); then
// all are ingested together (one flush).
//
// pip is not given the hashes (--require-hashes): its refusal would be a
// pip failure with pip's text; forge checks every file itself before it
// is ingested, as it does files it reads from a path.
func fetchLocked(ctx context.Context, w *workspace.Workspace, e *workspace.Env, o SyncOptions, wants []*syncWant) error {
	var missing, viaPip []*syncWant
	for _, sw := range wants {
		if sw.entry != nil {
			continue
		}
		missing = append(missing, sw)
		if sw.src.pipReq != "" {
			viaPip = append(viaPip, sw)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if len(viaPip) > 0 {
		dest, err := pipDownload(ctx, w, e, o, viaPip)
		if dest != "" {
			defer os.RemoveAll(filepath.Dir(dest))
		}
		if err != nil {
			return err
		}
		for _, sw := range viaPip {
			p := filepath.Join(dest, sw.sel.Wheel.FileName())
			if !regularFile(p) {
				return fmt.Errorf("%s: package %s: pip download %s did not produce %s: %w", o.Lock, sw.sel.Package.ID(), sw.src.pipReq, sw.sel.Wheel.FileName(), store.ErrNotFound)
			}
			sw.src.file = p
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.NumCPU())
	for _, sw := range missing {
		g.Go(func() error {
			_, err := workspace.VerifyLocked(gctx, o.Lock, sw.sel.Package, sw.sel.Wheel, sw.src.file)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	paths := make([]string, len(missing))
	for i, sw := range missing {
		paths[i] = sw.src.file
	}
	res, err := w.Store.IngestAll(ctx, paths)
	if err != nil {
		return err
	}
	for i, sw := range missing {
		if err := workspace.LockedIngested(o.Lock, sw.sel.Package, sw.sel.Wheel, sw.src.file, res[i].Entry); err != nil {
			return err
		}
		sw.entry, sw.fresh = res[i].Entry, true
	}
	return nil
}

// pipDownload runs the environment's pip to download the wheels of
// wants (each with pipReq) without their dependencies; it returns the
// directory they are in, inside a staging directory the caller removes.
func pipDownload(ctx context.Context, w *workspace.Workspace, e *workspace.Env, o SyncOptions, wants []*syncWant) (string, error) {
	tmp := filepath.Join(w.Home, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", err
	}
	staging, err := os.MkdirTemp(tmp, "sync-")
	if err != nil {
		return "", err
	}
	dest := filepath.Join(staging, "wheels")
	var req strings.Builder
	for _, sw := range wants {
		req.WriteString(sw.src.pipReq + "\n")
	}
	reqFile := filepath.Join(staging, "requirements.txt")
	if err := os.WriteFile(reqFile, []byte(req.String()), 0o644); err != nil {
		return dest, err
	}
	py, err := w.PipInterpreter(e, "")
	if err != nil {
		return dest, err
	}
	argv := []string{py, "-m", "pip", "download", "--disable-pip-version-check", "--no-deps", "--only-binary=:all:", "--dest", dest, "-r", reqFile}
	if o.FindLinks != "" {
		abs, err := filepath.Abs(o.FindLinks)
		if err != nil {
			return dest, err
		}
		argv = append(argv, "--no-index", "--find-links", abs)
	}
	w.Logf("fetching %d wheel(s) with pip download", len(wants))
	return dest, workspace.RunPip(ctx, argv, staging, o.PipOutput)
}
