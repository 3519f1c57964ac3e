package store_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/forge-ml/forge/store"
)

// TestRetarget: only absolute targets under the old home move.
func TestRetarget(t *testing.T) {
	dir := t.TempDir()
	old, home := "/old/home", "/new/place"
	for _, tc := range []struct {
		name, target, want string
		changed            bool
	}{
		{"into the old store", "/old/home/store/entries/ab/pkg", "/new/place/store/entries/ab/pkg", true},
		{"the old home itself", "/old/home", "/new/place", true},
		{"a sibling with the same prefix", "/old/homework/x", "/old/homework/x", false},
		{"an interpreter", "/usr/bin/python3.12", "/usr/bin/python3.12", false},
		{"relative", "../lib/x", "../lib/x", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			link := filepath.Join(dir, tc.name)
			if err := os.Symlink(tc.target, link); err != nil {
				t.Fatal(err)
			}
			changed, err := store.Retarget(link, old, home)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.Readlink(link)
			if changed != tc.changed || got != tc.want {
				t.Errorf("Retarget(%s) = %v, %s; want %v, %s", tc.target, changed, got, tc.changed, tc.want)
			}
		})
	}
}

// TestSetHome: environment rows under the old home move with it, others
// stay; the recorded home is inferred from the rows when none was recorded.
func TestSetHome(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	for _, e := range []store.EnvRow{
		{Name: "a", Path: "/old/home/envs/a", Python: "/usr/bin/python3", PythonVersion: "3.12.1"},
		{Name: "b", Path: "/elsewhere/envs/b", Python: "/usr/bin/python3", PythonVersion: "3.12.1"},
	} {
		if err := s.AddEnv(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.RecordedHome(ctx); err != nil || got != "/old/home" {
		t.Fatalf("inferred home %q, %v", got, err)
	}
	if err := s.SetHome(ctx, "/old/home", "/new/place"); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"a": "/new/place/envs/a", "b": "/elsewhere/envs/b"} {
		if e, err := s.GetEnv(ctx, name); err != nil || e.Path != want {
			t.Errorf("%s: %+v %v, want path %s", name, e, err, want)
		}
	}
	if got, err := s.RecordedHome(ctx); err != nil || got != "/new/place" {
		t.Errorf("recorded home %q, %v", got, err)
	}
}
