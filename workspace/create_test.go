package workspace

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/forge-ml/forge/store"
)

// TestCreateExistingName: the record decides whether a name is taken; a
// directory without one (a create killed before it recorded) is replaced.
func TestCreateExistingName(t *testing.T) {
	exe := needPython(t, "3.12")
	ctx := context.Background()
	tests := []struct {
		name    string
		setup   func(t *testing.T, w *Workspace, root string)
		wantErr error
		check   func(t *testing.T, w *Workspace, root string)
	}{
		{"record and directory", func(t *testing.T, w *Workspace, root string) {
			if _, err := w.Create(ctx, CreateOptions{Name: "app", Python: exe}); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, "marker"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}, store.ErrExists, func(t *testing.T, w *Workspace, root string) {
			if _, err := os.Stat(filepath.Join(root, "marker")); err != nil {
				t.Errorf("the existing environment was touched: %v", err)
			}
		}},
		{"record without directory", func(t *testing.T, w *Workspace, root string) {
			if err := w.Store.AddEnv(ctx, store.EnvRow{Name: "app", Path: root, Python: exe, PythonVersion: "3.12"}); err != nil {
				t.Fatal(err)
			}
		}, store.ErrExists, func(t *testing.T, w *Workspace, root string) {
			if _, err := os.Lstat(root); err == nil {
				t.Errorf("%s left behind", root)
			}
		}},
		{"directory without record", func(t *testing.T, w *Workspace, root string) {
			if err := os.MkdirAll(filepath.Join(root, "half-written"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, nil, func(t *testing.T, w *Workspace, root string) {
			if _, err := os.Stat(filepath.Join(root, "half-written")); err == nil {
				t.Error("leftover directory kept")
			}
			if _, err := os.Stat(filepath.Join(root, "pyvenv.cfg")); err != nil {
				t.Errorf("no environment in its place: %v", err)
			}
			if _, err := w.Store.GetEnv(ctx, "app"); err != nil {
				t.Errorf("not recorded: %v", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			root := filepath.Join(w.EnvsDir(), "app")
			tc.setup(t, w, root)
			if _, err := w.Create(ctx, CreateOptions{Name: "app", Python: exe}); !errors.Is(err, tc.wantErr) {
				t.Fatalf("Create: %v, want %v", err, tc.wantErr)
			}
			tc.check(t, w, root)
		})
	}
}

// envNameRule is the rule envNameOK writes out, as the regular expression
// it replaced.
var envNameRule = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func TestValidEnvName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"base", true},
		{"a", true},
		{"9lives", true},
		{"py3.12_cu121-dev", true},
		{strings.Repeat("x", 64), true},
		{strings.Repeat("x", 65), false},
		{"", false},
		{".hidden", false},
		{"-flag", false},
		{"_private", false},
		{"a/b", false},
		{"a b", false},
		{"..", false},
		{"héllo", false},
		{"GLOBAL", false},
		{"global", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := ValidEnvName(tc.name); (err == nil) != tc.ok {
				t.Errorf("ValidEnvName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
			}
		})
	}
}

// FuzzEnvNameOK: the written-out check accepts exactly what the regular
// expression accepts.
func FuzzEnvNameOK(f *testing.F) {
	for _, s := range []string{"base", "a.b-c_d", ".x", "x.", "", strings.Repeat("y", 64), strings.Repeat("y", 65), "ü", "a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got, want := envNameOK(name), envNameRule.MatchString(name); got != want {
			t.Errorf("envNameOK(%q) = %v, the rule says %v", name, got, want)
		}
	})
}
