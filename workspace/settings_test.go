package workspace_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/linker"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
	"github.com/forge-ml/forge/workspace/internal/wstest"
)

func TestSettingsRoundTrip(t *testing.T) {
	ws := wstest.Layered(t)
	ctx := context.Background()
	tests := []struct {
		name, key, value string
		want             string // stored value; "" = the default applies
		wantErr          []string
	}{
		{name: "abi policy", key: "abi_policy", value: "strict_abi", want: "strict_abi"},
		{name: "link mode", key: "link_mode", value: "hardlink", want: "hardlink"},
		{name: "resolver mode canonicalised", key: "resolver_mode", value: "Strict", want: "strict"},
		{name: "empty value resets", key: "resolver_mode", value: "", want: ""},
		{name: "unknown key", key: "colour", value: "blue", wantErr: []string{`"colour"`, "abi_policy, auto_snapshots, distutils_shim, link_mode, resolver_mode"}},
		{name: "invalid policy", key: "abi_policy", value: "lenient", wantErr: []string{`"lenient"`, "strict_abi, warn_abi, allow_abi"}},
		{name: "invalid link mode", key: "link_mode", value: "reflink", wantErr: []string{"symlink, hardlink, copy"}},
		{name: "invalid resolver mode", key: "resolver_mode", value: "pedantic", wantErr: []string{"loose, warn, strict"}},
		{name: "auto snapshots canonicalised", key: "auto_snapshots", value: " 07", want: "7"},
		{name: "auto snapshots off", key: "auto_snapshots", value: "0", want: "0"},
		{name: "auto snapshots negative", key: "auto_snapshots", value: "-1", wantErr: []string{`"-1"`, "0..1000"}},
		{name: "auto snapshots not a number", key: "auto_snapshots", value: "many", wantErr: []string{"0..1000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := ws.SetSetting(ctx, "app", tt.key, tt.value)
			if tt.wantErr != nil {
				if !errors.Is(err, workspace.ErrUsage) {
					t.Fatalf("err = %v, want ErrUsage", err)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Settings) != 1 || rep.Settings[0].Key != tt.key {
				t.Fatalf("report %+v", rep)
			}
			row, err := ws.Store.GetEnv(ctx, "app")
			if err != nil {
				t.Fatal(err)
			}
			if row.Settings[tt.key] != tt.want {
				t.Errorf("stored %q, want %q", row.Settings[tt.key], tt.want)
			}
			s := rep.Settings[0]
			if tt.want == "" && (s.Source != "default" || s.Value == "") || tt.want != "" && (s.Source != "env" || s.Value != tt.want) {
				t.Errorf("setting reads %+v", s)
			}
		})
	}
	t.Run("get all lists every key", func(t *testing.T) {
		rep, err := ws.Settings(ctx, "app", "")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]workspace.Setting{}
		for _, s := range rep.Settings {
			got[s.Key] = s
		}
		if got["abi_policy"].Value != "strict_abi" || got["link_mode"].Value != "hardlink" || got["resolver_mode"].Value != "warn" || got["resolver_mode"].Source != "default" {
			t.Errorf("settings %+v", rep.Settings)
		}
	})
	t.Run("install honours the stored settings", func(t *testing.T) {
		e, err := ws.OpenEnv(ctx, "app")
		if err != nil {
			t.Fatal(err)
		}
		p, m, err := ws.InstallSettings(e, workspace.InstallOptions{})
		if err != nil || p != abi.StrictABI || m != linker.Hardlink {
			t.Errorf("installSettings = %s, %s, %v", p, m, err)
		}
	})
	t.Run("unknown environment", func(t *testing.T) {
		if _, err := ws.Settings(ctx, "nope", ""); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestEnvs(t *testing.T) {
	ws := wstest.Layered(t)
	envs, err := ws.Envs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]workspace.EnvSummary{}
	for _, e := range envs {
		got[e.Name] = e
	}
	if len(envs) != 2 || envs[0].Name != "app" {
		t.Fatalf("envs %+v", envs)
	}
	if got["app"].Packages != 2 || got["app"].Parent != "base" || got["base"].Packages != 3 || got["base"].Parent != "" || !strings.HasPrefix(got["app"].PythonVersion, "3.12.") {
		t.Errorf("envs %+v", envs)
	}
}

func TestRemoveEnv(t *testing.T) {
	ws := wstest.Layered(t)
	ctx := context.Background()
	refs := func(name string) int {
		t.Helper()
		es, err := ws.Store.Find(ctx, name, "")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range es {
			n += e.Refs
		}
		return n
	}
	t.Run("parent is refused", func(t *testing.T) {
		for _, force := range []bool{false, true} {
			_, err := ws.RemoveEnv(ctx, workspace.RemoveEnvOptions{Env: "base", Force: force})
			if !errors.Is(err, store.ErrExists) || !strings.Contains(err.Error(), "app") {
				t.Errorf("force=%v: err = %v, want ErrExists naming app", force, err)
			}
			// The kind decides the exit code; its text ("already exists")
			// would only confuse: the message says what to do instead.
			if want := "environment base has child environments app: remove them first (forge env rm app), or change base in place (forge install / forge uninstall --env base): its children see the change"; err == nil || err.Error() != want {
				t.Errorf("force=%v: message %q, want %q", force, err, want)
			}
		}
		if _, err := ws.Store.GetEnv(ctx, "base"); err != nil {
			t.Errorf("base is gone: %v", err)
		}
	})
	t.Run("child with copied files", func(t *testing.T) {
		if _, err := ws.SetSetting(ctx, "app", workspace.SettingLinkMode, "copy"); err != nil {
			t.Fatal(err)
		}
		w := t.TempDir()
		p, err := fixtures.PurePackage("tqdm", "4.66.0").WriteTo(w)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ws.Install(ctx, workspace.InstallOptions{Env: "app", Specs: []string{p}}); err != nil {
			t.Fatal(err)
		}
		before := refs("numpy")
		e, _ := ws.OpenEnv(ctx, "app")
		rep, err := ws.RemoveEnv(ctx, workspace.RemoveEnvOptions{Env: "app"})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Unlinked) != 3 {
			t.Errorf("unlinked %+v, want numpy, colorama, tqdm", rep.Unlinked)
		}
		if _, err := os.Lstat(e.Path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists: %v", e.Path, err)
		}
		if _, err := ws.Store.GetEnv(ctx, "app"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("record still there: %v", err)
		}
		if got := refs("numpy"); got != before-1 {
			t.Errorf("numpy refs %d, want %d", got, before-1)
		}
		if ms, _ := ws.Store.Manifests(ctx, "app"); len(ms) != 0 {
			t.Errorf("manifests left: %+v", ms)
		}
		// The store keeps the entries for gc, and they are intact.
		es, _ := ws.Store.Find(ctx, "numpy", "2.0.0")
		if len(es) != 1 {
			t.Fatalf("numpy 2.0.0 entries: %d", len(es))
		}
		if _, err := os.Stat(filepath.Join(ws.Store.EntryDir(es[0].SHA256), "numpy", "__init__.py")); err != nil {
			t.Errorf("store entry damaged: %v", err)
		}
	})
	t.Run("parent removable once childless", func(t *testing.T) {
		rep, err := ws.RemoveEnv(ctx, workspace.RemoveEnvOptions{Env: "base"})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Unlinked) != 3 {
			t.Errorf("unlinked %+v", rep.Unlinked)
		}
		if envs, _ := ws.Envs(ctx); len(envs) != 0 {
			t.Errorf("envs left: %+v", envs)
		}
	})
	t.Run("unknown environment", func(t *testing.T) {
		if _, err := ws.RemoveEnv(ctx, workspace.RemoveEnvOptions{Env: "app"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestRemoveEnvForce(t *testing.T) {
	ws := wstest.Layered(t)
	ctx := context.Background()
	// An environment whose interpreter vanished cannot be opened.
	row, _ := ws.Store.GetEnv(ctx, "app")
	if _, err := ws.Store.DB().ExecContext(ctx, `UPDATE envs SET python = ? WHERE name = 'app'`, filepath.Join(t.TempDir(), "python3")); err != nil {
		t.Fatal(err)
	}
	if _, err := ws.RemoveEnv(ctx, workspace.RemoveEnvOptions{Env: "app"}); err == nil {
		t.Fatal("removed an environment that cannot be opened without --force")
	}
	rep, err := ws.RemoveEnv(ctx, workspace.RemoveEnvOptions{Env: "app", Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Notes) == 0 {
		t.Error("no note says the links were not removed one by one")
	}
	if _, err := os.Lstat(row.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists", row.Path)
	}
	if ms, _ := ws.Store.Manifests(ctx, "app"); len(ms) != 0 {
		t.Errorf("manifests left: %+v", ms)
	}
}
