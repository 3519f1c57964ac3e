package workspace_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
	"github.com/forge-ml/forge/workspace/internal/wstest"
)

// TestUninstallRetry: uninstall is idempotent. Names the layer does not
// hold are reported, not fatal, while another name is removed; a run
// interrupted after one package, or inside one, completes when run again;
// only a run where no name is installed fails, with ErrNotFound. The
// packages are checked from Python's side.
func TestUninstallRetry(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		before  func(t *testing.T, f *wstest.DocFixture) // the interrupted run
		names   []string
		removed []string
		absent  []string
		fail    bool
	}{
		{name: "both installed", names: []string{"alpha", "beta"}, removed: []string{"alpha", "beta"}},
		{name: "one never installed", names: []string{"ghost", "beta"}, removed: []string{"beta"}, absent: []string{"ghost"}},
		{name: "same project twice", names: []string{"beta", "Beta"}, removed: []string{"beta"}},
		{name: "killed after the first package", names: []string{"alpha", "beta"}, removed: []string{"beta"}, absent: []string{"alpha"},
			before: func(t *testing.T, f *wstest.DocFixture) {
				if _, err := f.WS.Uninstall(ctx, workspace.UninstallOptions{Env: "app", Names: []string{"alpha"}}); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "killed inside the first package", names: []string{"alpha", "beta"}, removed: []string{"alpha", "beta"},
			before: func(t *testing.T, f *wstest.DocFixture) {
				// As UnlinkManifest leaves it between marking and removing
				// the row: marked, some links already gone.
				if err := f.WS.Store.SetManifestState(ctx, "app", "alpha", "unlinking"); err != nil {
					t.Fatal(err)
				}
				if err := os.Remove(filepath.Join(f.Env.Venv.SitePackages(), "alpha")); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "none installed", names: []string{"ghost", "phantom"}, absent: []string{"ghost", "phantom"}, fail: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := wstest.DocSetup(t)
			if tc.before != nil {
				tc.before(t, f)
			}
			rep, err := f.WS.Uninstall(ctx, workspace.UninstallOptions{Env: "app", Names: tc.names})
			if tc.fail {
				if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "not installed") {
					t.Fatalf("err = %v, want ErrNotFound saying not installed", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			var removed []string
			for _, r := range rep.Removed {
				removed = append(removed, r.Name)
			}
			if strings.Join(removed, ",") != strings.Join(tc.removed, ",") || strings.Join(rep.NotInstalled, ",") != strings.Join(tc.absent, ",") {
				t.Errorf("removed %v, not installed %v; want %v, %v", removed, rep.NotInstalled, tc.removed, tc.absent)
			}
			for _, n := range []string{"alpha", "beta"} {
				out, perr := f.Python(t, "import importlib.util as u; print(u.find_spec('"+n+"') is not None)")
				if perr != nil {
					t.Fatalf("python: %v: %s", perr, out)
				}
				gone := tc.before != nil && n == "alpha" || slices.Contains(tc.removed, n)
				if got := strings.TrimSpace(out) == "False"; got != gone {
					t.Errorf("%s importable: %s, want gone=%v", n, strings.TrimSpace(out), gone)
				}
				_, merr := f.WS.Store.ManifestFor(ctx, "app", n)
				if errors.Is(merr, store.ErrNotFound) != gone {
					t.Errorf("%s manifest: %v, want gone=%v", n, merr, gone)
				}
			}
		})
	}
}
