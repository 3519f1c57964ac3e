package abireport

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/lockfile"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
	"github.com/forge-ml/forge/workspace/internal/wstest"
	"github.com/forge-ml/forge/workspace/reproduce"
)

func TestABIMatrixLock(t *testing.T) {
	ctx := context.Background()
	ws, wheels := wstest.LockEnv(t)
	fleet := wstest.FleetDir(t)
	l, err := reproduce.Lock(ctx, ws, reproduce.LockOptions{Env: "app", Profiles: []string{fleet}})
	if err != nil {
		t.Fatal(err)
	}
	lockPath := wstest.WriteLock(t, t.TempDir(), l)

	// The verdicts of the lock's wheels are those forge lock recorded.
	check := func(t *testing.T, ws *workspace.Workspace, lockPath string) *MatrixReport {
		t.Helper()
		rep, err := Matrix(ctx, ws, MatrixOptions{Lock: lockPath, Profiles: []string{fleet}})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Rows) != len(l.Packages) || len(rep.NotCheckable) != 0 || rep.Lock != lockPath {
			t.Fatalf("rows %+v, not checkable %+v", rep.Rows, rep.NotCheckable)
		}
		for i, r := range rep.Rows {
			p := l.Packages[i]
			if r.Name != p.Name || r.Entry != p.Wheels[0].SHA256() || r.Layer != p.Tool.Forge.Layer || r.File != p.Wheels[0].Name {
				t.Errorf("row %+v for %+v", r, p)
			}
			for _, c := range r.Cells {
				if c.Verdict != p.Tool.Forge.Verdicts[c.Host] {
					t.Errorf("%s on %s: %s, forge lock said %s", r.Name, c.Host, c.Verdict, p.Tool.Forge.Verdicts[c.Host])
				}
			}
		}
		return rep
	}
	t.Run("from the store", func(t *testing.T) { check(t, ws, lockPath) })

	t.Run("ingested from the locked paths", func(t *testing.T) {
		fresh := wstest.Open(t)
		check(t, fresh, lockPath)
		for _, p := range l.Packages {
			if _, err := fresh.Store.Get(ctx, p.Wheels[0].SHA256()); err != nil {
				t.Errorf("%s not ingested: %v", p.Name, err)
			}
		}
	})

	t.Run("a relative path is the lock file's directory's", func(t *testing.T) {
		dir := t.TempDir()
		rel := *l
		rel.Packages = slices.Clone(l.Packages)
		for i := range rel.Packages {
			p := &rel.Packages[i]
			wh := p.Wheels[0]
			data, err := os.ReadFile(wh.Path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(dir, "wheels"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "wheels", wh.Name), data, 0o644); err != nil {
				t.Fatal(err)
			}
			wh.Path = "wheels/" + wh.Name
			p.Wheels = []lockfile.Wheel{wh}
		}
		fresh := wstest.Open(t)
		check(t, fresh, wstest.WriteLock(t, dir, &rel))
	})

	t.Run("a file that is not what the lock says is an integrity failure", func(t *testing.T) {
		other, err := fixtures.PurePackage("purepkg", "1.0", fixtures.WithRequires("six")).WriteTo(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		bad := *l
		bad.Packages = slices.Clone(l.Packages)
		wh := bad.Packages[2].Wheels[0]
		wh.Path = other
		bad.Packages[2].Wheels = []lockfile.Wheel{wh}
		fresh := wstest.Open(t)
		_, err = Matrix(ctx, fresh, MatrixOptions{Lock: wstest.WriteLock(t, t.TempDir(), &bad), Profiles: []string{fleet}})
		if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "package purepkg 1.0: wheel "+other+": sha256 ") || !strings.Contains(err.Error(), "the lock says "+wh.SHA256()) {
			t.Fatalf("error %v", err)
		}
		if _, err := fresh.Store.Get(ctx, wh.SHA256()); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the wrong file's entry: %v", err)
		}
		if n, _ := fresh.Store.Find(ctx, "purepkg", ""); len(n) != 0 {
			t.Fatalf("ingested the file that did not match: %+v", n)
		}
	})

	t.Run("a wheel forge cannot read is not checkable", func(t *testing.T) {
		if err := os.Remove(wheels["pure"]); err != nil {
			t.Fatal(err)
		}
		remote := *l
		remote.Packages = append(slices.Clone(l.Packages), lockfile.Package{Name: "remotepkg", Version: "2.0", Wheels: []lockfile.Wheel{{
			URL: "https://example.invalid/remotepkg-2.0-py3-none-any.whl", Hashes: map[string]string{"sha256": strings.Repeat("0", 64)}}}})
		fresh := wstest.Open(t)
		rep, err := Matrix(ctx, fresh, MatrixOptions{Lock: wstest.WriteLock(t, t.TempDir(), &remote), Profiles: []string{fleet}, Policy: abi.WarnABI})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, nc := range rep.NotCheckable {
			got = append(got, nc.Name+": "+nc.Reason)
		}
		want := []string{
			"purepkg: not in the store, and its path " + wheels["pure"] + " cannot be read: stat " + wheels["pure"] + ": no such file or directory",
			"remotepkg: not in the store, and https://example.invalid/remotepkg-2.0-py3-none-any.whl is not a local file",
		}
		if !slices.Equal(got, want) || len(rep.Rows) != 2 {
			t.Fatalf("not checkable:\n%s\nrows %d", strings.Join(got, "\n"), len(rep.Rows))
		}
		var buf bytes.Buffer
		if err := rep.WriteJUnit(&buf, false); err != nil {
			t.Fatal(err)
		}
		if c := strings.Count(buf.String(), `type="not_checkable"`); c != 2*len(fixtures.ProfileNames()) {
			t.Fatalf("%d not_checkable failures in JUnit:\n%s", c, buf.String())
		}
	})

	t.Run("bad lock files", func(t *testing.T) {
		for _, tc := range []struct {
			file string
			kind error
		}{
			{filepath.Join(t.TempDir(), "missing.toml"), store.ErrNotFound},
			{"../../lockfile/testdata/bad-truncated.toml", lockfile.ErrInvalid},
			{"../../lockfile/testdata/bad-lock-version-2.toml", lockfile.ErrUnsupported},
		} {
			if _, err := Matrix(ctx, ws, MatrixOptions{Lock: tc.file, Profiles: []string{fleet}}); !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.file) {
				t.Errorf("%s: %v, want %v naming the file", tc.file, err, tc.kind)
			}
		}
		if _, err := Matrix(ctx, ws, MatrixOptions{Lock: lockPath, Env: "app", Profiles: []string{fleet}}); !errors.Is(err, workspace.ErrUsage) {
			t.Errorf("--lock with --env: %v", err)
		}
	})
}
