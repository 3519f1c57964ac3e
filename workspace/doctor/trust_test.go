package doctor

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
	"github.com/forge-ml/forge/workspace/gc"
	"github.com/forge-ml/forge/workspace/internal/wstest"
)

// TestDoctorPipUninstall removes a forge-linked package with pip inside the
// environment: doctor reports it as the user's decision (info), and --fix
// records the removal instead of linking it again.
func TestDoctorPipUninstall(t *testing.T) {
	f := wstest.DocSetup(t)
	ctx := context.Background()
	// The environment has no pip of its own; the base interpreter's pip,
	// run by the environment's python, acts on the environment.
	base := f.Env.Py.Real
	out, err := exec.Command(base, "-c", "import os, pip; print(os.path.dirname(os.path.dirname(pip.__file__)))").Output()
	if err != nil {
		t.Skip("no pip in the base interpreter")
	}
	pipSite := strings.TrimSpace(string(out))
	if o, err := f.Python(t, "import sys; sys.path.append("+pyQuote(pipSite)+"); from pip._internal.cli.main import main; sys.exit(main(['uninstall', '-y', 'beta']))"); err != nil {
		t.Fatalf("pip uninstall beta: %v\n%s", err, o)
	}
	if o, err := f.Python(t, "import beta"); err == nil {
		t.Fatalf("beta still imports after pip uninstall: %s", o)
	}
	rep, err := Run(ctx, f.WS, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Issues) != 1 || rep.Issues[0].Kind != KindPipRemoved || !rep.Issues[0].Info || !rep.Clean() {
		t.Fatalf("after pip uninstall: %+v (clean %v)", rep.Issues, rep.Clean())
	}
	fixed, err := Run(ctx, f.WS, Options{Fix: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(fixed.Applied) != 1 || fixed.Applied[0].Action != "forget_removed" || len(fixed.Remaining) != 0 {
		t.Fatalf("--fix: applied %+v remaining %+v", fixed.Applied, fixed.Remaining)
	}
	if o, err := f.Python(t, "import beta"); err == nil {
		t.Errorf("--fix linked beta again: %s", o)
	}
	if _, err := f.WS.Store.ManifestFor(ctx, "app", "beta"); err == nil {
		t.Error("beta's manifest row is still there")
	}
	if e := f.Entry(t, "beta"); e.Refs != 0 {
		t.Errorf("beta's refcount %d, want 0", e.Refs)
	}
	dry, err := gc.Run(ctx, f.WS, gc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range dry.Entries {
		found = found || e.Name == "beta"
	}
	if !found {
		t.Errorf("gc does not list beta: %+v", dry.Entries)
	}
}

func pyQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "\\'") + "'" }

// TestDoctorInterpreterGone: an environment whose interpreter link is gone
// is reported (it used to be "no issues").
func TestDoctorInterpreterGone(t *testing.T) {
	f := wstest.DocSetup(t)
	if err := os.Remove(filepath.Join(f.Env.Venv.Root, "bin", "python")); err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), f.WS, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.IssuesByKind[KindEnvBroken] != 1 || rep.Clean() {
		t.Errorf("issues %v", rep.IssuesByKind)
	}
}

// TestDoctorUnrecordedIsKept: an environment directory with packages and
// a store entry it links into, both without rows, are never removed by
// --fix, nor is anything else while the database does not account for
// them; doctor --rebuild records them again.
func TestDoctorUnrecordedIsKept(t *testing.T) {
	f := wstest.DocSetup(t)
	ctx := context.Background()
	if _, err := f.WS.Create(ctx, workspace.CreateOptions{Name: "empty", Python: "3.12", WithoutPip: true}); err != nil {
		t.Fatal(err)
	}
	// Forget every row as an emptied database would: the directories stay.
	db := f.WS.Store.DB()
	for _, q := range []string{`DELETE FROM links`, `DELETE FROM manifests`, `DELETE FROM envs`, `DELETE FROM entries`} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := Run(ctx, f.WS, Options{Fix: true})
	if err == nil || !rep.MetadataLost() {
		t.Fatalf("--fix on lost rows: err %v, issues %v", err, rep.IssuesByKind)
	}
	if !errorsIsCorrupt(err) || len(rep.Applied) != 0 {
		t.Errorf("err %v, applied %+v", err, rep.Applied)
	}
	for _, p := range []string{f.Env.Venv.Root, f.WS.Store.EntryDir(entry0(f, t))} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if rep.IssuesByKind[KindUnrecordedEnv] != 1 || rep.IssuesByKind[KindUnrecordedEntry] != 2 {
		t.Errorf("issues %v", rep.IssuesByKind)
	}
	if _, err := os.Stat(filepath.Join(f.WS.EnvsDir(), "empty")); err != nil {
		t.Errorf("the empty environment: %v", err)
	}
	// The rebuild makes the rows again, the empty environment's too.
	rb, err := Rebuild(ctx, f.WS)
	if err != nil || len(rb.Problems) > 0 {
		t.Fatalf("rebuild: %v %+v", err, rb.Problems)
	}
	if len(rb.Envs) != 2 || len(rb.Entries) != 3 || len(rb.Packages) != 2 {
		t.Errorf("rebuilt envs %v entries %v packages %v", rb.Envs, rb.Entries, rb.Packages)
	}
	fixed, err := Run(ctx, f.WS, Options{Fix: true, Verify: true})
	if err != nil || len(fixed.Remaining) != 0 {
		t.Fatalf("after rebuild: %v %+v", err, fixed.Remaining)
	}
	if out, err := f.Python(t, "import alpha, beta; print(alpha.hello())"); err != nil {
		t.Errorf("after rebuild: %v %s", err, out)
	}
}

func errorsIsCorrupt(err error) bool { return errors.Is(err, store.ErrCorrupt) }

// entry0 is the digest of one store directory.
func entry0(f *wstest.DocFixture, t *testing.T) string {
	t.Helper()
	d, err := f.WS.Store.EntryDirs()
	if err != nil || len(d) == 0 {
		t.Fatalf("entries: %v %v", d, err)
	}
	return d[0]
}

// TestDoctorEnvOutsideHome: a row naming a directory outside the home (a
// copy's row before it was re-rooted) is reported, and doctor --fix acts
// only on HOME/envs/NAME: the other directory is not touched.
func TestDoctorEnvOutsideHome(t *testing.T) {
	f := wstest.DocSetup(t)
	ctx := context.Background()
	other := filepath.Join(t.TempDir(), "envs", "app")
	if err := os.MkdirAll(filepath.Join(other, "lib", "python3.12", "site-packages"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A link into this home's store there would be a "stray" if doctor
	// scanned it as the environment.
	stray := filepath.Join(other, "lib", "python3.12", "site-packages", "beta")
	if err := os.Symlink(filepath.Join(f.WS.Store.EntryDir(f.Entry(t, "beta").SHA256), "beta"), stray); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WS.Store.DB().ExecContext(ctx, `UPDATE envs SET path = ? WHERE name = 'app'`, other); err != nil {
		t.Fatal(err)
	}
	rep, err := Run(ctx, f.WS, Options{Fix: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.IssuesByKind[KindEnvOutsideHome] != 1 || len(rep.Issues) != 1 || len(rep.Applied) != 0 {
		t.Errorf("issues %v, applied %+v", rep.IssuesByKind, rep.Applied)
	}
	if _, err := os.Lstat(stray); err != nil {
		t.Errorf("doctor --fix touched %s: %v", other, err)
	}
	if _, err := f.WS.OpenEnv(ctx, "app"); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("OpenEnv of a row outside the home: %v", err)
	}
	if _, err := f.WS.RemoveEnv(ctx, workspace.RemoveEnvOptions{Env: "app", Force: true}); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("RemoveEnv of a row outside the home: %v", err)
	}
	if _, err := os.Lstat(stray); err != nil {
		t.Errorf("env rm touched %s: %v", other, err)
	}
}

// TestDoctorKeepsHardlinkedEntry: an entry without a row whose files an
// environment hard-links (--link-mode hardlink: no symlink shows the use)
// is in use, and --fix keeps it.
func TestDoctorKeepsHardlinkedEntry(t *testing.T) {
	f := wstest.DocSetup(t)
	ctx := context.Background()
	if _, err := f.WS.Install(ctx, workspace.InstallOptions{Env: "app", Specs: []string{f.Wheels["gamma"]}, LinkMode: "hardlink"}); err != nil {
		t.Fatal(err)
	}
	sha := f.Entry(t, "gamma").SHA256
	// The rows of gamma lost, as a rolled-back database loses the last install.
	for _, q := range []string{`DELETE FROM links WHERE entry = ?`, `DELETE FROM manifests WHERE entry = ?`, `DELETE FROM entries WHERE sha256 = ?`} {
		if _, err := f.WS.Store.DB().ExecContext(ctx, q, sha); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := Run(ctx, f.WS, Options{Fix: true})
	if !errors.Is(err, ErrMetadataLost) || rep.IssuesByKind[KindUnrecordedEntry] != 1 {
		t.Fatalf("err %v, issues %v", err, rep.IssuesByKind)
	}
	if _, err := os.Stat(f.WS.Store.EntryDir(sha)); err != nil {
		t.Errorf("gamma's entry: %v", err)
	}
	rb, err := Rebuild(ctx, f.WS)
	if err != nil || len(rb.Problems) > 0 || len(rb.Packages) != 1 {
		t.Fatalf("rebuild: %v %+v %v", err, rb.Problems, rb.Packages)
	}
	m, err := f.WS.Store.ManifestFor(ctx, "app", "gamma")
	if err != nil || m.LinkMode != "hardlink" || m.State != store.StateLinked {
		t.Errorf("gamma after rebuild: %+v %v", m, err)
	}
	if out, err := f.Python(t, "import gamma"); err != nil {
		t.Errorf("import gamma: %v %s", err, out)
	}
}
