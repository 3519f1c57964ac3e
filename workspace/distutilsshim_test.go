package workspace_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/linker"
	"github.com/forge-ml/forge/probe"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
	"github.com/forge-ml/forge/workspace/doctor"
	"github.com/forge-ml/forge/workspace/internal/wstest"
)

// setuptoolsWheel returns a real setuptools wheel with a vendored
// _distutils found on this machine (CPython's test data ships one), or
// builds a small stand-in with the same layout.
func setuptoolsWheel(t *testing.T) string {
	t.Helper()
	var found []string
	if out, err := exec.Command("pyenv", "root").Output(); err == nil {
		found, _ = filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), "versions", "3.1[2-9]*", "lib", "python3.*", "test", "setuptools-6[0-9]*-py3-none-any.whl"))
	}
	if len(found) > 0 {
		return found[0]
	}
	w := fixtures.Wheel{Name: "setuptools", Version: "0.0.1", Files: []fixtures.File{
		{Name: "setuptools/__init__.py", Data: []byte("raise ImportError('the distutils shim must not import setuptools')\n")},
		{Name: "setuptools/_distutils/__init__.py", Data: []byte("")},
		{Name: "setuptools/_distutils/core.py", Data: []byte("from .dist import Distribution\n")},
		{Name: "setuptools/_distutils/dist.py", Data: []byte("class Distribution: pass\n")},
	}}
	p, err := w.WriteTo(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDistutilsShim: with distutils_shim on, a Python 3.12+ environment
// with setuptools imports distutils from setuptools/_distutils even when
// setuptools' own hook is off (SETUPTOOLS_USE_DISTUTILS=stdlib), unless
// FORGE_DISTUTILS_SHIM=0; off removes forge's files and only those.
func TestDistutilsShim(t *testing.T) {
	var exe string
	for _, v := range []string{"3.12", "3.13"} {
		if p, err := probe.FindPython(v); err == nil {
			exe = p
			break
		}
	}
	if exe == "" {
		t.Skip("no Python 3.12 or 3.13 here")
	}
	ctx := context.Background()
	ws := wstest.Open(t)
	if _, err := ws.Create(ctx, workspace.CreateOptions{Name: "e", Python: exe, WithoutPip: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := ws.Install(ctx, workspace.InstallOptions{Env: "e", Specs: []string{setuptoolsWheel(t)}}); err != nil {
		t.Fatal(err)
	}
	e, err := ws.OpenEnv(ctx, "e")
	if err != nil {
		t.Fatal(err)
	}
	site := e.Venv.SitePackages()
	// importDistutils runs the environment's python; env adds variables.
	importDistutils := func(t *testing.T, env ...string) (string, bool) {
		t.Helper()
		cmd := exec.Command(e.Venv.Interpreter(), "-c", "import distutils.core; print(distutils.core.__file__)")
		cmd.Env = append(os.Environ(), append([]string{"SETUPTOOLS_USE_DISTUTILS=stdlib", "FORGE_DISTUTILS_SHIM="}, env...)...)
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err == nil
	}
	set := func(t *testing.T, value string) *workspace.SettingsReport {
		t.Helper()
		rep, err := ws.SetSetting(ctx, "e", workspace.SettingDistutilsShim, value)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	shimFiles := []string{filepath.Join(site, linker.DistutilsShimPth), filepath.Join(site, linker.DistutilsShimModule)}

	if out, ok := importDistutils(t); ok {
		t.Fatalf("distutils imports before the shim is on: %s", out)
	}
	rep := set(t, "on")
	if rep.Settings[0].Value != "on" || len(rep.Notes) == 0 {
		t.Errorf("report %+v", rep)
	}
	want := filepath.Join(site, "setuptools", "_distutils", "core.py")
	if out, ok := importDistutils(t); !ok || out != want {
		t.Errorf("shim on: ok=%v, output %q, want %q", ok, out, want)
	}
	if out, ok := importDistutils(t, "FORGE_DISTUTILS_SHIM=0"); ok {
		t.Errorf("FORGE_DISTUTILS_SHIM=0: distutils still imports: %s", out)
	}
	// setuptools' own hook, where it is on, is asked first: the two agree.
	if out, ok := importDistutils(t, "SETUPTOOLS_USE_DISTUTILS=local"); !ok || out != want {
		t.Errorf("with setuptools' hook: ok=%v, output %q", ok, out)
	}
	set(t, "on") // again: replaces forge's own files
	for _, p := range shimFiles {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("after on: %v", err)
		}
	}
	// forge's own files are nothing for doctor to report or repair.
	if rep, err := doctor.Run(ctx, ws, doctor.Options{Fix: true, DryRun: true}); err != nil || len(rep.Issues) != 0 {
		t.Errorf("doctor with the shim on: %v, issues %+v", err, rep)
	}

	rep = set(t, "off")
	if len(rep.Notes) != 2 {
		t.Errorf("off notes %q, want the two removed files", rep.Notes)
	}
	for _, p := range shimFiles {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after off, %s: %v", p, err)
		}
	}
	if out, ok := importDistutils(t); ok {
		t.Errorf("shim off: distutils still imports: %s", out)
	}

	t.Run("a file forge did not write", func(t *testing.T) {
		user := []byte("# mine\nimport sys\n")
		if err := os.WriteFile(shimFiles[1], user, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ws.SetSetting(ctx, "e", workspace.SettingDistutilsShim, "on")
		if !errors.Is(err, store.ErrExists) || !strings.Contains(err.Error(), shimFiles[1]) || !strings.Contains(err.Error(), "not written by forge") {
			t.Errorf("on over a user's file: %v, want ErrExists naming it", err)
		}
		if _, err := os.Lstat(shimFiles[0]); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("refused on wrote the .pth: %v", err)
		}
		if row, _ := ws.Store.GetEnv(ctx, "e"); row.Settings[workspace.SettingDistutilsShim] != "off" {
			t.Errorf("refused on stored %q", row.Settings[workspace.SettingDistutilsShim])
		}
		rep := set(t, "off")
		if got, _ := os.ReadFile(shimFiles[1]); string(got) != string(user) {
			t.Errorf("off changed the user's file: %q", got)
		}
		if len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "not written by forge") {
			t.Errorf("off notes %q", rep.Notes)
		}
	})

	t.Run("Python 3.11 does not need it", func(t *testing.T) {
		wstest.NeedPython(t, "3.11")
		exe, _ := probe.FindPython("3.11")
		if _, err := ws.Create(ctx, workspace.CreateOptions{Name: "old", Python: exe, WithoutPip: true}); err != nil {
			t.Fatal(err)
		}
		rep, err := ws.SetSetting(ctx, "old", workspace.SettingDistutilsShim, "on")
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "not needed") {
			t.Errorf("notes %q", rep.Notes)
		}
	})
}
