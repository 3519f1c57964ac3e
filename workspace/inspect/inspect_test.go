package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"slices"
	"testing"

	"github.com/forge-ml/forge/probe"
	"github.com/forge-ml/forge/resolver"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
	"github.com/forge-ml/forge/workspace/internal/wstest"
)

func TestInspect(t *testing.T) {
	ws := wstest.Layered(t)
	ctx := context.Background()
	tests := []struct {
		name          string
		opts          InspectOptions
		setting       string // resolver_mode of app, "" = unset
		wantLayer     string
		wantKind      resolver.LayerKind
		wantKey       string
		wantVersion   string
		wantMode      resolver.Mode
		wantShadowed  []resolver.Source
		wantConflicts []string // kinds
		wantStrictErr bool
	}{
		{
			name: "child shadows parent and breaks its requirer", opts: InspectOptions{Env: "app", Name: "numpy"},
			wantLayer: "app", wantKind: resolver.Local, wantKey: "app", wantVersion: "2.0.0", wantMode: resolver.Warn,
			wantShadowed:  []resolver.Source{{Layer: "base", LayerKind: resolver.Parent, Version: "1.26.4"}},
			wantConflicts: []string{resolver.KindShadowBreaksParent},
		},
		{
			name: "strict mode fails", opts: InspectOptions{Env: "app", Name: "NumPy", Mode: "strict"},
			wantLayer: "app", wantKind: resolver.Local, wantKey: "app", wantVersion: "2.0.0", wantMode: resolver.Strict,
			wantShadowed:  []resolver.Source{{Layer: "base", LayerKind: resolver.Parent, Version: "1.26.4"}},
			wantConflicts: []string{resolver.KindShadowBreaksParent}, wantStrictErr: true,
		},
		{
			name: "loose mode reports nothing", opts: InspectOptions{Env: "app", Name: "numpy", Mode: "loose"},
			wantLayer: "app", wantKind: resolver.Local, wantKey: "app", wantVersion: "2.0.0", wantMode: resolver.Loose,
			wantShadowed: []resolver.Source{{Layer: "base", LayerKind: resolver.Parent, Version: "1.26.4"}},
		},
		{
			name: "mode from the environment setting", opts: InspectOptions{Env: "app", Name: "numpy"}, setting: "strict",
			wantLayer: "app", wantKind: resolver.Local, wantKey: "app", wantVersion: "2.0.0", wantMode: resolver.Strict,
			wantShadowed:  []resolver.Source{{Layer: "base", LayerKind: resolver.Parent, Version: "1.26.4"}},
			wantConflicts: []string{resolver.KindShadowBreaksParent}, wantStrictErr: true,
		},
		{
			name: "flag overrides the setting", opts: InspectOptions{Env: "app", Name: "numpy", Mode: "warn"}, setting: "strict",
			wantLayer: "app", wantKind: resolver.Local, wantKey: "app", wantVersion: "2.0.0", wantMode: resolver.Warn,
			wantShadowed:  []resolver.Source{{Layer: "base", LayerKind: resolver.Parent, Version: "1.26.4"}},
			wantConflicts: []string{resolver.KindShadowBreaksParent},
		},
		{
			name: "requirer seen from the child", opts: InspectOptions{Env: "app", Name: "sciplot"},
			wantLayer: "base", wantKind: resolver.Parent, wantKey: "base", wantVersion: "1.0", wantMode: resolver.Warn,
			wantShadowed: []resolver.Source{}, wantConflicts: []string{resolver.KindShadowBreaksParent},
		},
		{
			name: "parent alone is consistent", opts: InspectOptions{Env: "base", Name: "numpy", Mode: "strict"},
			wantLayer: "base", wantKind: resolver.Local, wantKey: "base", wantVersion: "1.26.4", wantMode: resolver.Strict,
			wantShadowed: []resolver.Source{},
		},
		{
			name: "GLOBAL layer", opts: InspectOptions{Env: "app", Name: "six"},
			wantLayer: "GLOBAL", wantKind: resolver.Global, wantKey: "GLOBAL/3.12", wantVersion: "1.16.0", wantMode: resolver.Warn,
			wantShadowed: []resolver.Source{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ws.Store.SetEnvSetting(ctx, "app", workspace.SettingResolverMode, tt.setting); err != nil {
				t.Fatal(err)
			}
			rep, err := Inspect(ctx, ws, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Layer != tt.wantLayer || rep.LayerKind != tt.wantKind || rep.LayerKey != tt.wantKey || rep.Version != tt.wantVersion || rep.Mode != tt.wantMode {
				t.Errorf("got layer %s (%s, key %s) version %s mode %s; want %s (%s, key %s) %s %s",
					rep.Layer, rep.LayerKind, rep.LayerKey, rep.Version, rep.Mode, tt.wantLayer, tt.wantKind, tt.wantKey, tt.wantVersion, tt.wantMode)
			}
			var shadowed []resolver.Source
			for _, s := range rep.ShadowedSources {
				if len(s.Entry) != 64 {
					t.Errorf("shadowed source %+v: entry is not a sha256", s)
				}
				s.Entry = ""
				shadowed = append(shadowed, s)
			}
			if !slices.Equal(shadowed, tt.wantShadowed) && len(shadowed)+len(tt.wantShadowed) > 0 {
				t.Errorf("shadowed %+v, want %+v", shadowed, tt.wantShadowed)
			}
			var kinds []string
			for _, c := range rep.Conflicts {
				kinds = append(kinds, c.Kind)
			}
			if !slices.Equal(kinds, tt.wantConflicts) {
				t.Errorf("conflicts %+v, want kinds %v", rep.Conflicts, tt.wantConflicts)
			}
			if err := rep.Err(); (err != nil) != tt.wantStrictErr || (err != nil && !errors.Is(err, resolver.ErrConflict)) {
				t.Errorf("Err() = %v, want strict failure %v", err, tt.wantStrictErr)
			}
			if rep.Reason == "" || rep.Path == "" {
				t.Errorf("reason %q, path %q: want both", rep.Reason, rep.Path)
			}
		})
	}
	if err := ws.Store.SetEnvSetting(ctx, "app", workspace.SettingResolverMode, ""); err != nil {
		t.Fatal(err)
	}

	t.Run("conflict names requirer and versions", func(t *testing.T) {
		rep, err := Inspect(ctx, ws, InspectOptions{Env: "app", Name: "numpy"})
		if err != nil {
			t.Fatal(err)
		}
		c := rep.Conflicts[0]
		if c.RequiredBy != "sciplot" || c.RequiredByLayer != "base" || c.Found != "2.0.0" || c.FoundLayer != "app" || c.Requirement != "numpy<2" {
			t.Errorf("conflict %+v", c)
		}
		if rep.Reason != "LOCAL layer of app shadows parent base (1.26.4)" {
			t.Errorf("reason %q", rep.Reason)
		}
	})
	t.Run("unknown package", func(t *testing.T) {
		_, err := Inspect(ctx, ws, InspectOptions{Env: "app", Name: "pandas"})
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("invalid mode", func(t *testing.T) {
		_, err := Inspect(ctx, ws, InspectOptions{Env: "app", Name: "numpy", Mode: "lenient"})
		if !errors.Is(err, workspace.ErrUsage) {
			t.Errorf("err = %v, want ErrUsage", err)
		}
	})
	t.Run("unknown environment", func(t *testing.T) {
		_, err := Inspect(ctx, ws, InspectOptions{Env: "nope", Name: "numpy"})
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("report JSON is flat", func(t *testing.T) {
		rep, err := Inspect(ctx, ws, InspectOptions{Env: "app", Name: "numpy"})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(rep)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"env", "name", "version", "layer", "layer_kind", "reason", "shadowed_sources", "conflicts", "mode", "layer_key"} {
			if _, ok := m[k]; !ok {
				t.Errorf("key %q missing from %s", k, b)
			}
		}
	})
}

func TestTree(t *testing.T) {
	ws := wstest.Layered(t)
	ctx := context.Background()
	rep, err := Tree(ctx, ws, TreeOptions{Env: "app"})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("layers most local first", func(t *testing.T) {
		var got []string
		for _, l := range rep.Layers {
			got = append(got, l.Kind.String()+":"+l.Key)
		}
		want := []string{"LOCAL:app", "PARENT:base", "GLOBAL:GLOBAL/3.12"}
		if !slices.Equal(got, want) {
			t.Errorf("layers %v, want %v", got, want)
		}
	})
	t.Run("winners and shadowed copies", func(t *testing.T) {
		marks := map[string]string{}
		for _, l := range rep.Layers {
			for _, p := range l.Packages {
				m := "wins"
				if !p.Winner {
					m = "shadowed by " + p.ShadowedBy
				}
				marks[l.Name+"/"+p.Normalized+"=="+p.Version] = m
				if p.State != "linked" || p.LinkMode != "symlink" {
					t.Errorf("%s: state %s, link mode %s", p.Name, p.State, p.LinkMode)
				}
			}
		}
		want := map[string]string{
			"app/numpy==2.0.0": "wins", "app/colorama==0.4.6": "wins",
			"base/numpy==1.26.4": "shadowed by app", "base/sciplot==1.0": "wins", "base/extras-demo==0.3": "wins",
			"GLOBAL/six==1.16.0": "wins",
		}
		if len(marks) != len(want) {
			t.Errorf("packages %v, want %v", marks, want)
		}
		for k, v := range want {
			if marks[k] != v {
				t.Errorf("%s: %q, want %q", k, marks[k], v)
			}
		}
	})
	t.Run("edges follow markers and extras", func(t *testing.T) {
		var got []string
		for _, e := range rep.Edges {
			got = append(got, e.From+"@"+e.FromLayer+" -> "+e.To+"@"+e.ToLayer+" "+e.Conflict)
		}
		want := []string{
			"extras-demo@base -> colorama@app ", // activated by sciplot's extras-demo[dev]
			"sciplot@base -> extras-demo@base ",
			"sciplot@base -> numpy@app shadow_breaks_parent",
		}
		if !slices.Equal(got, want) {
			t.Errorf("edges\n%v\nwant\n%v", got, want)
		}
	})
	t.Run("conflicts", func(t *testing.T) {
		if len(rep.Conflicts) != 1 || rep.Conflicts[0].Kind != resolver.KindShadowBreaksParent || rep.Err() != nil {
			t.Errorf("conflicts %+v, err %v", rep.Conflicts, rep.Err())
		}
		strict, err := Tree(ctx, ws, TreeOptions{Env: "app", Mode: "strict"})
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(strict.Err(), resolver.ErrConflict) {
			t.Errorf("strict tree: Err() = %v", strict.Err())
		}
	})
	t.Run("Resolve agrees", func(t *testing.T) {
		res, err := Resolve(ctx, ws, "app", resolver.Warn)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Packages) != len(rep.Effective) || len(res.Conflicts) != 1 {
			t.Errorf("Resolve: %d packages, %d conflicts; tree: %d packages", len(res.Packages), len(res.Conflicts), len(rep.Effective))
		}
	})
}

// TestMarkerEnvForMatchesPackaging compares the marker environment forge
// derives from an interpreter's facts with what packaging computes inside
// that interpreter.
func TestMarkerEnvForMatchesPackaging(t *testing.T) {
	for _, xy := range []string{"3.8", "3.10", "3.12", "3.13"} {
		t.Run(xy, func(t *testing.T) {
			exe := wstest.NeedPython(t, xy)
			py, err := probe.Interpreter(exe, probe.WithCacheDir(t.TempDir()))
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(exe, "-c", "import json; from pip._vendor.packaging.markers import default_environment as d; print(json.dumps(d()))").Output()
			if err != nil {
				t.Skipf("%s has no pip to compare with: %v", exe, err)
			}
			var want map[string]string
			if err := json.Unmarshal(out, &want); err != nil {
				t.Fatal(err)
			}
			got := workspace.MarkerEnvFor(py, workspace.HostUname())
			for _, k := range resolver.MarkerVariables {
				if got.Vars[k] != want[k] {
					t.Errorf("%s = %q, packaging says %q", k, got.Vars[k], want[k])
				}
			}
		})
	}
}
