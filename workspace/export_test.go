package workspace_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/probe"
	"github.com/forge-ml/forge/sbom"
	"github.com/forge-ml/forge/workspace/internal/wstest"
)

// TestExportRequirementsPip exports an environment of two layers and has a
// real pip install the requirements file with --require-hashes, from the
// very wheels forge installed, into a fresh venv; a requirements file with
// one hash changed is refused.
func TestExportRequirementsPip(t *testing.T) {
	wstest.NeedPython(t, "3.12")
	ctx := context.Background()
	ws := wstest.Open(t)
	dir := t.TempDir()
	files := wstest.WriteWheels(t, dir,
		fixtures.PurePackage("lic-pkg", "1.0", fixtures.WithRequires("dep_pkg>=2"), fixtures.WithHeaders("License-Expression: Apache-2.0")),
		fixtures.PurePackage("dep_pkg", "2.1", fixtures.WithHeaders("License: Some licence text", "Classifier: License :: OSI Approved :: MIT License")))
	wstest.BaseAndApp(t, ws, "", files[1:], files[:1])
	inv, err := ws.Export(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range inv.Packages {
		got = append(got, strings.Join([]string{p.Name, p.Version, p.Layer, p.Wheel, p.LicenseExpression, p.License, strings.Join(p.LicenseClassifiers, ";")}, "|"))
	}
	want := []string{
		"dep_pkg|2.1|base|dep_pkg-2.1-py3-none-any.whl||Some licence text|License :: OSI Approved :: MIT License",
		"lic-pkg|1.0|LOCAL|lic_pkg-1.0-py3-none-any.whl|Apache-2.0||",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("inventory\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i, p := range inv.Packages {
		if sha, _ := wstest.FileSHA256(t, files[1-i]); p.SHA256 != sha {
			t.Errorf("%s: sha256 %s, the wheel's is %s", p.Name, p.SHA256, sha)
		}
	}

	var req bytes.Buffer
	if err := sbom.WriteRequirements(&req, inv); err != nil {
		t.Fatal(err)
	}
	py, err := probe.FindPython("3.12")
	if err != nil {
		t.Fatal(err)
	}
	pipInstall := func(t *testing.T, reqText string) (string, error) {
		venv := filepath.Join(t.TempDir(), "venv")
		if out, err := exec.Command(py, "-m", "venv", venv).CombinedOutput(); err != nil {
			t.Fatalf("venv: %v\n%s", err, out)
		}
		reqFile := filepath.Join(t.TempDir(), "requirements.txt")
		if err := os.WriteFile(reqFile, []byte(reqText), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(filepath.Join(venv, "bin", "python"), "-m", "pip", "install", "--require-hashes", "--no-index", "--find-links", dir, "-r", reqFile)
		cmd.Env = append(os.Environ(), "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_INPUT=1", "PIP_CONFIG_FILE=/dev/null")
		out, err := cmd.CombinedOutput()
		if err == nil {
			out2, err2 := exec.Command(filepath.Join(venv, "bin", "python"), "-c", "import lic_pkg, dep_pkg; print('ok')").CombinedOutput()
			if err2 != nil || strings.TrimSpace(string(out2)) != "ok" {
				t.Fatalf("installed, but import fails: %v\n%s", err2, out2)
			}
		}
		return string(out), err
	}
	t.Run("pip accepts", func(t *testing.T) {
		if out, err := pipInstall(t, req.String()); err != nil {
			t.Fatalf("pip install --require-hashes: %v\n%s\n%s", err, out, req.String())
		}
	})
	t.Run("pip refuses a changed hash", func(t *testing.T) {
		bad := strings.Replace(req.String(), inv.Packages[0].SHA256, strings.Repeat("0", 64), 1)
		out, err := pipInstall(t, bad)
		if err == nil || !strings.Contains(out, "THESE PACKAGES DO NOT MATCH THE HASHES") {
			t.Fatalf("pip took a wrong hash: %v\n%s", err, out)
		}
	})
}
