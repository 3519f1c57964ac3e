package doctor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/forge-ml/forge/workspace"
	"github.com/forge-ml/forge/workspace/internal/wstest"
)

// TestDoctorPipMissing: an environment made before forge linked pip (here:
// one made --without-pip whose pyvenv.cfg marker is then removed, which is
// exactly what such an environment looks like) is reported as pip_missing
// and --fix links pip into it; one made --without-pip on purpose, and one
// with pip, are left alone. What a create killed while linking pip left
// behind does not stop the fix.
func TestDoctorPipMissing(t *testing.T) {
	wstest.NeedPython(t, "3.12")
	ctx := context.Background()
	ws := wstest.Open(t)
	for _, o := range []workspace.CreateOptions{
		{Name: "old", Python: "3.12", WithoutPip: true},
		{Name: "bare", Python: "3.12", WithoutPip: true},
		{Name: "new", Python: "3.12"},
	} {
		if _, err := ws.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(ws.EnvsDir(), "old", "pyvenv.cfg")
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	old := strings.Replace(string(data), "forge-without-pip = true\n", "", 1)
	if old == string(data) {
		t.Fatalf("pyvenv.cfg of a --without-pip environment has no marker:\n%s", data)
	}
	if err := os.WriteFile(cfg, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	// What a create killed while linking pip leaves: a launcher, named for
	// this Python (not the wheel's pip3.11), and a link into the entry.
	oldEnv, err := ws.OpenEnv(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(oldEnv.Venv.Bin(), "pip3.12"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := ws.Store.List(ctx)
	if err != nil || len(ents) != 1 {
		t.Fatalf("store: %v %v, want the pip entry", ents, err)
	}
	if err := os.Symlink(filepath.Join(ws.Store.EntryDir(ents[0].SHA256), "pip"), filepath.Join(oldEnv.Venv.SitePackages(), "pip")); err != nil {
		t.Fatal(err)
	}

	rep, err := Run(ctx, ws, Options{})
	if err != nil {
		t.Fatal(err)
	}
	byKind := map[string]int{}
	for _, is := range rep.Issues {
		byKind[is.Kind]++
		if is.Env != "old" || !is.Fixable {
			t.Errorf("issue %+v: want a fixable issue of old", is)
		}
	}
	if byKind[KindPipMissing] != 1 || byKind[KindStrayLink] != 1 || len(rep.Issues) != 2 {
		t.Fatalf("issues %+v, want pip_missing and the stray link", rep.Issues)
	}
	rep, err = Run(ctx, ws, Options{Fix: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Applied) != 2 || rep.Applied[1].Action != linkPipAction || len(rep.Failed) != 0 || len(rep.Remaining) != 0 {
		t.Fatalf("fix: applied %+v failed %+v remaining %+v", rep.Applied, rep.Failed, rep.Remaining)
	}
	e, err := ws.OpenEnv(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := ws.Store.Manifests(ctx, "old")
	if err != nil || len(ms) != 1 || ms[0].NormName != "pip" || ms[0].State != "linked" {
		t.Errorf("old's manifest after the fix: %+v %v", ms, err)
	}
	if out := wstest.RunOK(t, filepath.Join(e.Venv.Bin(), "pip3.12"), "--version"); !strings.Contains(out, filepath.Join(e.Venv.SitePackages(), "pip")) {
		t.Errorf("pip3.12 --version after the fix: %q", out)
	}
	if ms, err := ws.Store.Manifests(ctx, "bare"); err != nil || len(ms) != 0 {
		t.Errorf("bare's manifest: %+v %v, want none", ms, err)
	}
	rep, err = Run(ctx, ws, Options{})
	if err != nil || len(rep.Issues) != 0 {
		t.Errorf("doctor after the fix: %+v %v", rep.Issues, err)
	}
}
