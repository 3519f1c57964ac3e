package reproduce_test

import (
	"context"
	"errors"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
	"github.com/forge-ml/forge/workspace/doctor"
	"github.com/forge-ml/forge/workspace/gc"
	"github.com/forge-ml/forge/workspace/internal/wstest"
	"github.com/forge-ml/forge/workspace/pipshim"
	"github.com/forge-ml/forge/workspace/reproduce"
)

// snapWheel writes one more wheel for a docFixture and returns its path.
func snapWheel(f *wstest.DocFixture, t *testing.T, w fixtures.Wheel) string {
	t.Helper()
	p, err := w.WriteTo(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// snapshotted makes a DocFixture with a snapshot of "app" named name.
func snapshotted(t *testing.T, name string) *wstest.DocFixture {
	t.Helper()
	f := wstest.DocSetup(t)
	if _, err := reproduce.Snapshot(context.Background(), f.WS, reproduce.SnapshotOptions{Env: "app", Name: name}); err != nil {
		t.Fatal(err)
	}
	return f
}

// changedSinceBefore makes a DocFixture whose "app" has a snapshot
// "before", taken ahead of an upgrade of beta to 3.0 and an install of
// gamma.
func changedSinceBefore(t *testing.T) *wstest.DocFixture {
	t.Helper()
	ctx := context.Background()
	f := snapshotted(t, "before")
	beta3 := snapWheel(f, t, fixtures.PurePackage("beta", "3.0"))
	if _, err := f.WS.Install(ctx, workspace.InstallOptions{Env: "app", Specs: []string{beta3, f.Wheels["gamma"]}}); err != nil {
		t.Fatal(err)
	}
	return f
}

// importState is what the environment's Python sees: for each name, the
// module's VERSION and importlib.metadata's version, or "absent".
func importState(f *wstest.DocFixture, t *testing.T, names ...string) string {
	t.Helper()
	code := `import importlib, importlib.metadata as md
out = []
for n in ` + pyList(names) + `:
    try:
        m = importlib.import_module(n)
        out.append(n + "=" + m.VERSION + "/" + md.version(n))
    except (ImportError, md.PackageNotFoundError):
        out.append(n + "=absent")
print(" ".join(out))`
	out, err := f.Python(t, code)
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	return strings.TrimSpace(out)
}

func pyList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = `"` + n + `"`
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func pkgNames(ps []reproduce.RollbackPackage) string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name+" "+p.Version)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

func TestRollbackRestoresLayerAndSettings(t *testing.T) {
	ctx := context.Background()
	f := changedSinceBefore(t)
	// Besides upgrading beta and adding gamma: drop alpha, change a setting.
	if _, err := f.WS.Uninstall(ctx, workspace.UninstallOptions{Env: "app", Names: []string{"alpha"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WS.SetSetting(ctx, "app", workspace.SettingABIPolicy, "strict_abi"); err != nil {
		t.Fatal(err)
	}
	const changed = "alpha=absent beta=3.0/3.0 gamma=3.0/3.0"
	if got := importState(f, t, "alpha", "beta", "gamma"); got != changed {
		t.Fatalf("before the rollback: %s, want %s", got, changed)
	}

	dry, err := reproduce.Rollback(ctx, f.WS, reproduce.RollbackOptions{Env: "app", Name: "before", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := pkgNames(dry.Add), "alpha 1.0,beta 2.0"; got != want {
		t.Errorf("dry run adds %s, want %s", got, want)
	}
	if got, want := pkgNames(dry.Remove), "beta 3.0,gamma 3.0"; got != want {
		t.Errorf("dry run removes %s, want %s", got, want)
	}
	if len(dry.Settings) != 1 || dry.Settings[0].Name != "setting abi_policy" || dry.Settings[0].OldVersion != "strict_abi" || dry.Settings[0].NewVersion != "" {
		t.Errorf("dry run settings %+v", dry.Settings)
	}
	if got := importState(f, t, "alpha", "beta", "gamma"); got != changed {
		t.Fatalf("the dry run changed the environment: %s", got)
	}

	rep, err := reproduce.Rollback(ctx, f.WS, reproduce.RollbackOptions{Env: "app", Name: "before"})
	if err != nil {
		t.Fatal(err)
	}
	const restored = "alpha=1.0/1.0 beta=2.0/2.0 gamma=absent"
	if got := importState(f, t, "alpha", "beta", "gamma"); got != restored {
		t.Errorf("after the rollback: %s, want %s", got, restored)
	}
	if row, _ := f.WS.Store.GetEnv(ctx, "app"); row.Settings[workspace.SettingABIPolicy] != "" {
		t.Errorf("abi_policy after the rollback: %q, want unset", row.Settings[workspace.SettingABIPolicy])
	}
	if !strings.HasPrefix(rep.AutoSnapshot, "auto-rollback-") {
		t.Fatalf("automatic snapshot %q", rep.AutoSnapshot)
	}
	if doc, err := doctor.Run(ctx, f.WS, doctor.Options{}); err != nil || !doc.Clean() {
		t.Errorf("doctor after the rollback: %v %+v", err, doc.Issues)
	}
	// The automatic snapshot undoes the rollback.
	if _, err := reproduce.Rollback(ctx, f.WS, reproduce.RollbackOptions{Env: "app", Name: rep.AutoSnapshot}); err != nil {
		t.Fatal(err)
	}
	if got := importState(f, t, "alpha", "beta", "gamma"); got != changed {
		t.Errorf("after rolling back to %s: %s, want %s", rep.AutoSnapshot, got, changed)
	}
	if row, _ := f.WS.Store.GetEnv(ctx, "app"); row.Settings[workspace.SettingABIPolicy] != "strict_abi" {
		t.Errorf("abi_policy: %q, want strict_abi", row.Settings[workspace.SettingABIPolicy])
	}
}

func TestSnapshotKeepsEntriesFromGC(t *testing.T) {
	ctx := context.Background()
	f := snapshotted(t, "keep")
	beta := f.Entry(t, "beta").SHA256
	if _, err := f.WS.Uninstall(ctx, workspace.UninstallOptions{Env: "app", Names: []string{"beta"}}); err != nil {
		t.Fatal(err)
	}
	rep, err := gc.Run(ctx, f.WS, gc.Options{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(wstest.GCNames(rep), ","); got != "gamma" {
		t.Errorf("gc with the snapshot collected %s, want gamma only", got)
	}
	if _, err := os.Stat(f.WS.Store.EntryDir(beta)); err != nil {
		t.Fatalf("beta's entry is gone while a snapshot names it: %v", err)
	}
	if err := reproduce.RemoveSnapshot(ctx, f.WS, "app", "keep"); err != nil {
		t.Fatal(err)
	}
	rep, err = gc.Run(ctx, f.WS, gc.Options{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(wstest.GCNames(rep), ","); got != "beta" || rep.Removed != 1 {
		t.Errorf("gc after snapshot rm collected %s (%d), want beta", got, rep.Removed)
	}
	if _, err := os.Stat(f.WS.Store.EntryDir(beta)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("beta's entry after gc: %v", err)
	}
}

func TestSnapshotErrors(t *testing.T) {
	ctx := context.Background()
	f := snapshotted(t, "s1")
	count := func() int {
		ss, err := reproduce.Snapshots(ctx, f.WS, "app")
		if err != nil {
			t.Fatal(err)
		}
		return len(ss)
	}
	// snap and rollback are the commands a case runs, for env and name.
	snap := func(env, name string) func() error {
		return func() error {
			_, err := reproduce.Snapshot(ctx, f.WS, reproduce.SnapshotOptions{Env: env, Name: name})
			return err
		}
	}
	rollback := func(env, name string) func() error {
		return func() error {
			_, err := reproduce.Rollback(ctx, f.WS, reproduce.RollbackOptions{Env: env, Name: name})
			return err
		}
	}
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"leading dot", snap("app", ".hidden"), workspace.ErrUsage},
		{"slash", snap("app", "a/b"), workspace.ErrUsage},
		{"space", snap("app", "a b"), workspace.ErrUsage},
		{"65 characters", snap("app", strings.Repeat("x", 65)), workspace.ErrUsage},
		{"name taken", snap("app", "s1"), store.ErrExists},
		{"no such environment", snap("nope", "s2"), store.ErrNotFound},
		{"rollback to a missing snapshot", rollback("app", "missing"), store.ErrNotFound},
		{"rollback to a bad name", rollback("app", "../x"), workspace.ErrUsage},
		{"rm a missing snapshot", func() error { return reproduce.RemoveSnapshot(ctx, f.WS, "app", "missing") }, store.ErrNotFound},
		{"rm a bad name", func() error { return reproduce.RemoveSnapshot(ctx, f.WS, "app", "") }, workspace.ErrUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if n := count(); n != 1 {
				t.Errorf("%d snapshots after a refused command, want 1", n)
			}
		})
	}
	// A 64-character name is fine; default names are the time, made unique.
	if _, err := reproduce.Snapshot(ctx, f.WS, reproduce.SnapshotOptions{Env: "app", Name: strings.Repeat("x", 64)}); err != nil {
		t.Errorf("64 characters: %v", err)
	}
	f.WS.Clock = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	var names []string
	for range 2 {
		sn, err := reproduce.Snapshot(ctx, f.WS, reproduce.SnapshotOptions{Env: "app"})
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, sn.Name)
	}
	if strings.Join(names, " ") != "20260102-030405 20260102-030405-2" {
		t.Errorf("default names %v", names)
	}
}

func TestRollbackEntryGoneChangesNothing(t *testing.T) {
	ctx := context.Background()
	f := snapshotted(t, "s")
	if _, err := f.WS.Uninstall(ctx, workspace.UninstallOptions{Env: "app", Names: []string{"beta"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WS.Install(ctx, workspace.InstallOptions{Env: "app", Specs: []string{f.Wheels["gamma"]}}); err != nil {
		t.Fatal(err)
	}
	// beta's entry leaves the store behind forge's back (as doctor drops
	// the row of an entry whose directory is gone).
	if _, err := f.WS.Store.DB().ExecContext(ctx, `DELETE FROM entries WHERE sha256 = ?`, f.Entry(t, "beta").SHA256); err != nil {
		t.Fatal(err)
	}
	before := importState(f, t, "alpha", "beta", "gamma")
	_, err := reproduce.Rollback(ctx, f.WS, reproduce.RollbackOptions{Env: "app", Name: "s"})
	if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "beta 2.0") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("error %v, want one naming beta 2.0 and ErrNotFound", err)
	}
	if got := importState(f, t, "alpha", "beta", "gamma"); got != before {
		t.Errorf("the environment changed: %s, was %s", got, before)
	}
	ss, _ := reproduce.Snapshots(ctx, f.WS, "app")
	if len(ss) != 1 {
		t.Errorf("%d snapshots, want 1 (no automatic one for a refused rollback)", len(ss))
	}
	if p, _ := f.WS.Store.PendingRollbacks(ctx); len(p) != 0 {
		t.Errorf("pending rollbacks %v", p)
	}
}

func TestAutoSnapshotsBounded(t *testing.T) {
	ctx := context.Background()
	f := wstest.DocSetup(t)
	for _, n := range []string{"a", "b"} {
		if n == "b" {
			if _, err := f.WS.Install(ctx, workspace.InstallOptions{Env: "app", Specs: []string{f.Wheels["gamma"]}}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := reproduce.Snapshot(ctx, f.WS, reproduce.SnapshotOptions{Env: "app", Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.WS.SetSetting(ctx, "app", workspace.SettingAutoSnapshots, "2"); err != nil {
		t.Fatal(err)
	}
	var autos []string
	for i := range 4 {
		rep, err := reproduce.Rollback(ctx, f.WS, reproduce.RollbackOptions{Env: "app", Name: []string{"a", "b"}[i%2]})
		if err != nil {
			t.Fatal(err)
		}
		autos = append(autos, rep.AutoSnapshot)
	}
	ss, err := reproduce.Snapshots(ctx, f.WS, "app")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range ss {
		names = append(names, s.Name)
	}
	// a and b were taken by hand; of the four automatic ones, the last two.
	if want := []string{"a", "b", autos[2], autos[3]}; !slices.Equal(names, want) {
		t.Errorf("snapshots %v, want %v", names, want)
	}
	if _, err := f.WS.SetSetting(ctx, "app", workspace.SettingAutoSnapshots, "0"); err != nil {
		t.Fatal(err)
	}
	rep, err := reproduce.Rollback(ctx, f.WS, reproduce.RollbackOptions{Env: "app", Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.AutoSnapshot != "" {
		t.Errorf("auto_snapshots 0 took %s", rep.AutoSnapshot)
	}
	if _, err := f.WS.SetSetting(ctx, "app", workspace.SettingAutoSnapshots, "-1"); !errors.Is(err, workspace.ErrUsage) {
		t.Errorf("auto_snapshots -1: %v, want a usage error", err)
	}
}

// TestRollbackInterruptedThenDoctorFix interrupts a rollback after each of
// its steps as a crash would (nothing after the step runs; the locks are
// released, as the kernel releases a dead process's) and checks that
// doctor reports it and --fix finishes it.
func TestRollbackInterruptedThenDoctorFix(t *testing.T) {
	ctx := context.Background()
	for _, step := range []string{"rollback-begun", "rollback-unlinked", "rollback-linked"} {
		t.Run(step, func(t *testing.T) {
			f := changedSinceBefore(t)
			if _, err := f.WS.SetSetting(ctx, "app", workspace.SettingLinkMode, "copy"); err != nil {
				t.Fatal(err)
			}
			old := *reproduce.FaultPoint
			*reproduce.FaultPoint = func(s string) error {
				if s == step {
					runtime.Goexit()
				}
				return nil
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				reproduce.Rollback(ctx, f.WS, reproduce.RollbackOptions{Env: "app", Name: "before"})
			}()
			<-done
			*reproduce.FaultPoint = old

			doc, err := doctor.Run(ctx, f.WS, doctor.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if n := len(slices.DeleteFunc(slices.Clone(doc.Issues), func(is doctor.Issue) bool { return is.Kind != doctor.KindRollbackInterrupted })); n != 1 {
				t.Fatalf("doctor after a crash at %s: %+v", step, doc.Issues)
			}
			if _, err := reproduce.Rollback(ctx, f.WS, reproduce.RollbackOptions{Env: "app", Name: "before"}); !errors.Is(err, store.ErrLocked) {
				t.Errorf("a second rollback before doctor --fix: %v, want ErrLocked", err)
			}
			fix, err := doctor.Run(ctx, f.WS, doctor.Options{Fix: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(fix.Failed) > 0 || !fix.Clean() {
				t.Fatalf("doctor --fix: failed %+v, remaining %+v", fix.Failed, fix.Remaining)
			}
			if !slices.ContainsFunc(fix.Applied, func(x doctor.Fix) bool { return x.Action == doctor.FinishRollbackAction }) {
				t.Errorf("applied %+v, want %s", fix.Applied, doctor.FinishRollbackAction)
			}
			if got, want := importState(f, t, "alpha", "beta", "gamma"), "alpha=1.0/1.0 beta=2.0/2.0 gamma=absent"; got != want {
				t.Errorf("after doctor --fix: %s, want %s", got, want)
			}
			if row, _ := f.WS.Store.GetEnv(ctx, "app"); row.Settings[workspace.SettingLinkMode] != "" {
				t.Errorf("link_mode after doctor --fix: %q, want unset", row.Settings[workspace.SettingLinkMode])
			}
		})
	}
}

// TestRollbackFailureUndone: an error between a rollback's steps puts the
// environment back as it was, with nothing left for doctor.
func TestRollbackFailureUndone(t *testing.T) {
	ctx := context.Background()
	for _, step := range []string{"rollback-unlinked", "rollback-linked"} {
		t.Run(step, func(t *testing.T) {
			f := changedSinceBefore(t)
			if _, err := f.WS.SetSetting(ctx, "app", workspace.SettingABIPolicy, "allow_abi"); err != nil {
				t.Fatal(err)
			}
			was := importState(f, t, "alpha", "beta", "gamma")
			injected := errors.New("injected failure")
			old := *reproduce.FaultPoint
			failed := false
			*reproduce.FaultPoint = func(s string) error {
				if s == step && !failed { // the undo passes here too
					failed = true
					return injected
				}
				return nil
			}
			_, err := reproduce.Rollback(ctx, f.WS, reproduce.RollbackOptions{Env: "app", Name: "before"})
			*reproduce.FaultPoint = old
			if !errors.Is(err, injected) || !strings.Contains(err.Error(), "as it was") {
				t.Fatalf("error %v, want the injected one, undone", err)
			}
			if got := importState(f, t, "alpha", "beta", "gamma"); got != was {
				t.Errorf("after the undo: %s, want %s", got, was)
			}
			if row, _ := f.WS.Store.GetEnv(ctx, "app"); row.Settings[workspace.SettingABIPolicy] != "allow_abi" {
				t.Errorf("abi_policy after the undo: %q", row.Settings[workspace.SettingABIPolicy])
			}
			if doc, err := doctor.Run(ctx, f.WS, doctor.Options{}); err != nil || !doc.Clean() {
				t.Errorf("doctor after the undo: %v %+v", err, doc.Issues)
			}
			h, err := reproduce.History(ctx, f.WS, "app")
			if err != nil {
				t.Fatal(err)
			}
			last := h.Operations[len(h.Operations)-1]
			if last.Command != "forge rollback app before" || last.Status != store.HistoryFailed || reproduce.HistorySummary(last.Changes) != "" {
				t.Errorf("history: %s %s %q", last.Command, last.Status, reproduce.HistorySummary(last.Changes))
			}
		})
	}
}

func TestHistory(t *testing.T) {
	ctx := context.Background()
	f := wstest.DocSetup(t) // create, then install alpha and beta
	f.WS.Version = "9.9.9"
	beta3 := snapWheel(f, t, fixtures.PurePackage("beta", "3.0"))
	steps := []func() error{
		func() error {
			_, err := f.WS.SetSetting(ctx, "app", workspace.SettingABIPolicy, "strict_abi")
			return err
		},
		func() error {
			_, err := f.WS.Uninstall(ctx, workspace.UninstallOptions{Env: "app", Names: []string{"alpha"}})
			return err
		},
		func() error {
			_, err := f.WS.Uninstall(ctx, workspace.UninstallOptions{Env: "app", Names: []string{"nope"}})
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("uninstall nope: %v", err)
			}
			return nil
		},
		func() error {
			_, err := reproduce.Snapshot(ctx, f.WS, reproduce.SnapshotOptions{Env: "app", Name: "s"})
			return err
		},
		func() error {
			_, err := f.WS.Install(ctx, workspace.InstallOptions{Env: "app", Specs: []string{beta3, f.Wheels["gamma"]}})
			return err
		},
		func() error {
			_, err := reproduce.Rollback(ctx, f.WS, reproduce.RollbackOptions{Env: "app", Name: "s"})
			return err
		},
		func() error { return reproduce.RemoveSnapshot(ctx, f.WS, "app", "s") },
		func() error {
			// Pinned and in the store: pip does not run.
			rep, err := pipshim.Install(ctx, f.WS, pipshim.InstallOptions{Env: "app", Args: []string{"gamma==3.0"}})
			if err == nil && rep.PipRan {
				t.Errorf("pip ran: %s", rep.PipReason)
			}
			return err
		},
	}
	for i, s := range steps {
		if err := s(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	// An operation whose process died: begun, never finished.
	if _, err := f.WS.BeginHistory(ctx, "app", "install", []string{"x.whl"}); err != nil {
		t.Fatal(err)
	}
	rep, err := reproduce.History(ctx, f.WS, "app")
	if err != nil {
		t.Fatal(err)
	}
	type line struct{ command, status, summary string }
	want := []line{
		{"forge install " + f.Wheels["alpha"] + " " + f.Wheels["beta"] + " --env app", "ok", "+alpha 1.0 +beta 2.0"},
		{"forge env set app abi_policy strict_abi", "ok", "~setting abi_policy (unset)→strict_abi"},
		{"forge uninstall alpha --env app", "ok", "-alpha 1.0"},
		{"forge uninstall nope --env app", "failed", ""},
		{"forge snapshot app s", "ok", ""},
		{"forge install " + beta3 + " " + f.Wheels["gamma"] + " --env app", "ok", "+gamma 3.0 ~beta 2.0→3.0"},
		{"forge rollback app s", "ok", "-gamma 3.0 ~beta 3.0→2.0"},
		{"forge snapshot rm app s", "ok", ""},
		{"forge pip install --env app gamma==3.0", "ok", "+gamma 3.0"},
		{"forge install x.whl", reproduce.HistoryDidNotFinish, ""},
	}
	if len(rep.Operations) != len(want) {
		for _, o := range rep.Operations {
			t.Logf("%s %s", o.Command, o.Status)
		}
		t.Fatalf("%d operations, want %d", len(rep.Operations), len(want))
	}
	for i, o := range rep.Operations {
		got := line{o.Command, o.Status, reproduce.HistorySummary(o.Changes)}
		if got != want[i] {
			t.Errorf("operation %d: %+v, want %+v", i, got, want[i])
		}
		finished := o.Status != reproduce.HistoryDidNotFinish
		if (o.Finished != nil) != finished || finished && o.Finished.Before(o.Started) || (o.ExitCode != nil) != finished {
			t.Errorf("operation %d (%s): started %v finished %v exit %v", i, o.Command, o.Started, o.Finished, o.ExitCode)
		}
		if i > 0 && o.ForgeVersion != "9.9.9" {
			t.Errorf("operation %d: forge version %q", i, o.ForgeVersion)
		}
	}
	failed := rep.Operations[3]
	if *failed.ExitCode != 1 || !strings.Contains(failed.Error, "nope") {
		t.Errorf("failed operation: exit %d, error %q", *failed.ExitCode, failed.Error)
	}
	// Rows are never rewritten once finished.
	if err := f.WS.Store.FinishHistory(ctx, rep.Operations[0].ID, store.HistoryFailed, 1, "x", store.HistoryChanges{}, time.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("finishing a finished row: %v", err)
	}
	if _, err := f.WS.Store.DB().ExecContext(ctx, `UPDATE history SET status = 'failed' WHERE id = ?`, rep.Operations[0].ID); err == nil {
		t.Errorf("a finished history row was rewritten")
	}
}

// TestEnvRmDropsSnapshotsAndHistory: they are the environment's; a new one
// of the same name starts without them.
func TestEnvRmDropsSnapshotsAndHistory(t *testing.T) {
	ctx := context.Background()
	f := snapshotted(t, "s")
	if _, err := f.WS.RemoveEnv(ctx, workspace.RemoveEnvOptions{Env: "app"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WS.Create(ctx, workspace.CreateOptions{Name: "app", Python: "3.12", WithoutPip: true}); err != nil {
		t.Fatal(err)
	}
	ss, err := reproduce.Snapshots(ctx, f.WS, "app")
	if err != nil || len(ss) != 0 {
		t.Errorf("snapshots of the new app: %v %v", ss, err)
	}
	h, err := reproduce.History(ctx, f.WS, "app")
	if err != nil || len(h.Operations) != 0 {
		t.Errorf("history of the new app: %+v %v", h, err)
	}
	rep, err := gc.Run(ctx, f.WS, gc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(wstest.GCNames(rep), ","); got != "alpha,beta,gamma" {
		t.Errorf("gc lists %s once the snapshot went with its environment", got)
	}
}
