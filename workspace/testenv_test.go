package workspace

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/store"
)

// TestTestEnv: forge env test makes a child of the project holding the test
// tools; the project never holds them, and upgrading the project shows in
// the test environment while its tools stay.
func TestTestEnv(t *testing.T) {
	exe := needPython(t, "3.12")
	ctx := context.Background()
	ws := testWorkspace(t)
	wheels := t.TempDir()
	whl := func(w fixtures.Wheel) string {
		t.Helper()
		p, err := w.WriteTo(wheels)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, err := ws.Create(ctx, CreateOptions{Name: "app", Python: exe, WithoutPip: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := ws.Install(ctx, InstallOptions{Env: "app", Specs: []string{whl(fixtures.PurePackage("mylib", "1.0"))}}); err != nil {
		t.Fatal(err)
	}
	pytest := whl(fixtures.PurePackage("pytest", "8.0.0"))
	// python runs code in an environment and returns its output.
	python := func(t *testing.T, env, code string) (string, error) {
		t.Helper()
		e, err := ws.OpenEnv(ctx, env)
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(e.Venv.Interpreter(), "-c", code).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	const versions = "import importlib.metadata as m; print(m.version('mylib'), m.version('pytest'))"

	rep, err := ws.TestEnv(ctx, TestEnvOptions{Project: "app", Specs: []string{pytest}, WithoutPip: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Env != "app-test" || !rep.Created || rep.Install == nil || len(rep.Install.Packages) != 1 || rep.Install.Packages[0].Layer != "LOCAL" {
		t.Fatalf("report %+v", rep)
	}
	if row, _ := ws.Store.GetEnv(ctx, "app-test"); row == nil || row.Parent != "app" {
		t.Fatalf("app-test row %+v, want parent app", row)
	}
	if out, err := python(t, "app-test", versions); err != nil || out != "1.0 8.0.0" {
		t.Errorf("app-test sees %q (%v), want mylib 1.0 and pytest 8.0.0", out, err)
	}
	if out, err := python(t, "app", "import pytest"); err == nil {
		t.Errorf("the project environment imports pytest: %s", out)
	}

	t.Run("upgrading the project shows in the test environment", func(t *testing.T) {
		if _, err := ws.Install(ctx, InstallOptions{Env: "app", Specs: []string{whl(fixtures.PurePackage("mylib", "2.0"))}}); err != nil {
			t.Fatal(err)
		}
		if out, err := python(t, "app-test", versions); err != nil || out != "2.0 8.0.0" {
			t.Errorf("app-test sees %q (%v), want mylib 2.0 and pytest 8.0.0", out, err)
		}
	})
	t.Run("again reuses it", func(t *testing.T) {
		rep, err := ws.TestEnv(ctx, TestEnvOptions{Project: "app", Specs: []string{whl(fixtures.PurePackage("pluggy", "1.4.0"))}})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Created || rep.Install == nil || rep.Install.Packages[0].Name != "pluggy" {
			t.Errorf("report %+v", rep)
		}
		if out, err := python(t, "app-test", "import importlib.metadata as m; print(m.version('pluggy'), m.version('pytest'))"); err != nil || out != "1.4.0 8.0.0" {
			t.Errorf("app-test: %q (%v)", out, err)
		}
	})
	t.Run("the project cannot be removed under it", func(t *testing.T) {
		_, err := ws.RemoveEnv(ctx, RemoveEnvOptions{Env: "app"})
		if !errors.Is(err, store.ErrExists) || !strings.Contains(err.Error(), "forge env rm app-test") {
			t.Errorf("env rm app: %v", err)
		}
	})
	t.Run("a name taken by another environment", func(t *testing.T) {
		if _, err := ws.Create(ctx, CreateOptions{Name: "other", Python: exe, WithoutPip: true}); err != nil {
			t.Fatal(err)
		}
		_, err := ws.TestEnv(ctx, TestEnvOptions{Project: "app", Name: "other"})
		if !errors.Is(err, store.ErrExists) || !strings.Contains(err.Error(), "other exists with no parent, not as a test environment of app") {
			t.Errorf("err = %v", err)
		}
		if _, err := ws.TestEnv(ctx, TestEnvOptions{Project: "app", Name: "app"}); !errors.Is(err, ErrUsage) {
			t.Errorf("--name app: %v, want a usage error", err)
		}
		if _, err := ws.TestEnv(ctx, TestEnvOptions{Project: "nope"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown project: %v", err)
		}
	})
}
