package workspace

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/linker"
)

// TestInstallReportsWhatHappened: a package is reported linked only once
// it is. The second of two wheels fails to link (a file of the user's is
// where its package goes, as a full disk fails a copy): the first is
// linked, the second is not, and the error says why; a run where nothing
// fails reports both linked, and a repeat reports them already there.
func TestInstallReportsWhatHappened(t *testing.T) {
	needPython(t, "3.12")
	ctx := context.Background()
	ws := testWorkspace(t)
	env, err := ws.Create(ctx, CreateOptions{Name: "app", Python: "3.12"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var wheels []string
	for _, n := range []string{"first", "second"} {
		p, err := fixtures.PurePackage(n, "1.0").WriteTo(dir)
		if err != nil {
			t.Fatal(err)
		}
		wheels = append(wheels, p)
	}
	squat := filepath.Join(env.Venv.SitePackages(), fixtures.ImportName("second"))
	if err := os.WriteFile(squat, []byte("the user's\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	linked := func(rep *InstallReport) []bool {
		var out []bool
		for _, p := range rep.Packages {
			out = append(out, p.Linked)
		}
		return out
	}
	rep, err := ws.Install(ctx, InstallOptions{Env: "app", Specs: wheels, LinkMode: "copy"})
	if !errors.Is(err, linker.ErrConflict) {
		t.Fatalf("err = %v, want a conflict", err)
	}
	if got := linked(rep); len(got) != 2 || !got[0] || got[1] {
		t.Errorf("linked %v, want [true false]", got)
	}
	if err := os.Remove(squat); err != nil {
		t.Fatal(err)
	}
	rep, err = ws.Install(ctx, InstallOptions{Env: "app", Specs: wheels, LinkMode: "copy"})
	if err != nil {
		t.Fatal(err)
	}
	if got := linked(rep); len(got) != 2 || !got[0] || !got[1] || !rep.Packages[0].AlreadyLinked || rep.Packages[1].AlreadyLinked {
		t.Errorf("linked %v, already %v/%v: want both linked, the first already", got, rep.Packages[0].AlreadyLinked, rep.Packages[1].AlreadyLinked)
	}
}
