package workspace

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/store"
)

// TestBrokenEnvRefused: an environment whose directory, pyvenv.cfg or
// interpreter is gone (or whose parent's directory is) is refused by run
// (Activate) and install with a BrokenEnvError that names the environment
// and the way out; install writes nothing.
func TestBrokenEnvRefused(t *testing.T) {
	exe := needPython(t, "3.12")
	ctx := context.Background()
	whl, err := fixtures.PurePackage("demo", "1.0").WriteTo(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		break_   func(t *testing.T, ws *Workspace, app *Env, interp string)
		env      string // named in the error
		missing  string // in BrokenEnvError.Missing
		fix      string // in BrokenEnvError.Fix
		dirAfter bool   // app's directory exists after the refused install
	}{
		{"directory deleted", func(t *testing.T, ws *Workspace, app *Env, _ string) {
			os.RemoveAll(app.Path)
		}, "app", "its directory", "forge env rm app'", false},
		{"pyvenv.cfg deleted", func(t *testing.T, ws *Workspace, app *Env, _ string) {
			os.Remove(filepath.Join(app.Path, "pyvenv.cfg"))
		}, "app", "no pyvenv.cfg", "forge env rm app'", true},
		{"interpreter deleted", func(t *testing.T, ws *Workspace, app *Env, interp string) {
			os.Remove(interp)
		}, "app", "its interpreter", "forge env rm app --force", true},
		{"parent directory deleted", func(t *testing.T, ws *Workspace, app *Env, _ string) {
			os.RemoveAll(filepath.Join(ws.EnvsDir(), "base"))
		}, "base", "its directory", "forge env rm base'", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws := testWorkspace(t)
			// An interpreter of its own that the test can delete: a link
			// to the real one, recorded under the link's name.
			interp := filepath.Join(t.TempDir(), "python3.12")
			if err := os.Symlink(exe, interp); err != nil {
				t.Fatal(err)
			}
			if _, err := ws.Create(ctx, CreateOptions{Name: "base", Python: interp, WithoutPip: true}); err != nil {
				t.Fatal(err)
			}
			app, err := ws.Create(ctx, CreateOptions{Name: "app", Parent: "base", WithoutPip: true})
			if err != nil {
				t.Fatal(err)
			}
			if app.Python != interp {
				t.Fatalf("recorded interpreter %s, want the link %s", app.Python, interp)
			}
			tc.break_(t, ws, app, interp)

			_, aerr := ws.Activate(ctx, "app")
			_, ierr := ws.Install(ctx, InstallOptions{Env: "app", Specs: []string{whl}})
			for what, err := range map[string]error{"run": aerr, "install": ierr} {
				var be *BrokenEnvError
				if !errors.As(err, &be) {
					t.Fatalf("%s: %v, want a BrokenEnvError", what, err)
				}
				if be.Env != tc.env || !strings.Contains(be.Missing, tc.missing) || !strings.Contains(be.Fix, tc.fix) {
					t.Errorf("%s: %q, want environment %s, %q, %q", what, err, tc.env, tc.missing, tc.fix)
				}
				if !errors.Is(err, store.ErrNotFound) {
					t.Errorf("%s: %v does not wrap ErrNotFound (exit 1)", what, err)
				}
			}
			_, err = os.Stat(app.Path)
			if exists := err == nil; exists != tc.dirAfter {
				t.Errorf("after the refused install, %s exists = %v, want %v", app.Path, exists, tc.dirAfter)
			}
			if ms, err := ws.Store.Manifests(ctx, "app"); err != nil || len(ms) != 0 {
				t.Errorf("manifest of app after the refused install: %v %v", ms, err)
			}
		})
	}
}
