package reproduce

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/lockfile"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
	"github.com/forge-ml/forge/workspace/internal/wstest"
)

// syncView is what the environment's interpreter sees installed:
// importlib.metadata's (name, version) of every distribution.
func syncView(t *testing.T, ws *workspace.Workspace, env string) string {
	t.Helper()
	e, err := ws.OpenEnv(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(e.Venv.Interpreter(), "-c",
		"import importlib.metadata as m; print(sorted((d.metadata['Name'], d.version) for d in m.distributions()))").CombinedOutput()
	if err != nil {
		t.Fatalf("%s: python: %v\n%s", env, err, out)
	}
	return strings.TrimSpace(string(out))
}

// syncLocal is the environment's LOCAL layer: name → entry, state.
func syncLocal(t *testing.T, ws *workspace.Workspace, env string) map[string]string {
	t.Helper()
	ms, err := ws.Store.Manifests(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range ms {
		out[m.NormName] = m.Entry + " " + string(m.State)
	}
	return out
}

// syncDigests are the wheel digests of the packages env imports (forge lock's view).
func syncDigests(t *testing.T, ws *workspace.Workspace, env string) map[string]string {
	t.Helper()
	l, err := Lock(context.Background(), ws, LockOptions{Env: env})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range l.Packages {
		out[p.Name+" "+p.Version] = p.Wheels[0].SHA256()
	}
	return out
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// farHome opens another forge home, with an environment "far" (Python
// 3.12, no pip) holding the wheel files specs.
func farHome(t *testing.T, specs ...string) *workspace.Workspace {
	t.Helper()
	ctx := context.Background()
	far := wstest.Open(t)
	_, err := far.Create(ctx, workspace.CreateOptions{Name: "far", Python: "3.12", WithoutPip: true})
	mustDo(t, err)
	if len(specs) > 0 {
		_, err = far.Install(ctx, workspace.InstallOptions{Env: "far", Specs: specs})
		mustDo(t, err)
	}
	return far
}

// editLock rewrites a lock file's packages into a new file in dir.
func editLock(t *testing.T, dir, src string, edit func(l *lockfile.Lock)) string {
	t.Helper()
	l, err := workspace.ReadLock(src)
	mustDo(t, err)
	edit(l)
	return wstest.WriteLock(t, dir, l)
}

func planOf(rep *SyncReport) string {
	var b strings.Builder
	for _, p := range rep.Packages {
		b.WriteString(p.Action + " " + p.Name + " " + p.Version)
		if p.Layer != "LOCAL" {
			b.WriteString(" from " + p.Layer)
		}
		if p.Replaces != "" {
			b.WriteString(" replaces " + p.Replaces)
		}
		if p.Fetch != "" {
			b.WriteString(" fetch")
		}
		b.WriteString("; ")
	}
	return b.String()
}

// TestSync locks an environment with pip, alpha (requiring beta) and beta,
// and syncs that lock elsewhere: into an environment holding other
// packages, into environments of other forge homes, and with what must be
// refused.
func TestSync(t *testing.T) {
	wstest.NeedPython(t, "3.12")
	ctx := context.Background()
	ws := wstest.Open(t)
	whl := t.TempDir()
	alpha := fixtures.WriteWheel(t, whl, fixtures.PurePackage("alpha", "1.0", fixtures.WithRequires("beta>=1.0")))
	beta := fixtures.WriteWheel(t, whl, fixtures.PurePackage("beta", "1.2"))
	oldDir := t.TempDir()
	betaOld := fixtures.WriteWheel(t, oldDir, fixtures.PurePackage("beta", "1.0"))
	stray := fixtures.WriteWheel(t, oldDir, fixtures.PurePackage("stray", "3.0"))
	alphaSHA, _ := wstest.FileSHA256(t, alpha)
	betaSHA, _ := wstest.FileSHA256(t, beta)
	betaOldSHA, _ := wstest.FileSHA256(t, betaOld)

	_, err := ws.Create(ctx, workspace.CreateOptions{Name: "src", Python: "3.12"})
	mustDo(t, err)
	_, err = ws.Install(ctx, workspace.InstallOptions{Env: "src", Specs: []string{alpha, beta}})
	mustDo(t, err)
	l, err := Lock(ctx, ws, LockOptions{Env: "src"})
	mustDo(t, err)
	lockPath := wstest.WriteLock(t, t.TempDir(), l)
	if len(l.Packages) != 3 || l.Packages[2].Name != "pip" {
		t.Fatalf("lock of src: %+v", l.Packages)
	}
	srcView := syncView(t, ws, "src")
	srcDigests := syncDigests(t, ws, "src")

	_, err = ws.Create(ctx, workspace.CreateOptions{Name: "dst", Python: "3.12"})
	mustDo(t, err)
	_, err = ws.Install(ctx, workspace.InstallOptions{Env: "dst", Specs: []string{betaOld, stray}})
	mustDo(t, err)

	t.Run("dry run changes nothing", func(t *testing.T) {
		before, view := syncLocal(t, ws, "dst"), syncView(t, ws, "dst")
		rep, err := Sync(ctx, ws, SyncOptions{Env: "dst", Lock: lockPath, DryRun: true})
		mustDo(t, err)
		want := "add alpha 1.0; add beta 1.2 replaces 1.0; keep pip " + l.Packages[2].Version + "; remove stray 3.0; "
		if got := planOf(rep); got != want || rep.Changed || !rep.DryRun || rep.Added != 2 || rep.Removed != 1 || rep.Kept != 1 || rep.Fetched != 0 {
			t.Fatalf("plan %q (%+v), want %q", got, rep, want)
		}
		if after := syncLocal(t, ws, "dst"); !maps.Equal(before, after) || syncView(t, ws, "dst") != view {
			t.Fatalf("dry run changed LOCAL: %v -> %v", before, after)
		}
	})

	t.Run("a failed link is undone", func(t *testing.T) {
		_, err := ws.Create(ctx, workspace.CreateOptions{Name: "undo", Python: "3.12", WithoutPip: true})
		mustDo(t, err)
		_, err = ws.Install(ctx, workspace.InstallOptions{Env: "undo", Specs: []string{betaOld, stray}})
		mustDo(t, err)
		e, err := ws.OpenEnv(ctx, "undo")
		mustDo(t, err)
		// Something not forge's where beta 1.2's .dist-info goes: alpha
		// links first, then beta fails.
		before, view := syncLocal(t, ws, "undo"), syncView(t, ws, "undo")
		block := filepath.Join(e.Venv.SitePackages(), "beta-1.2.dist-info")
		mustDo(t, os.Mkdir(block, 0o755))
		_, err = Sync(ctx, ws, SyncOptions{Env: "undo", Lock: lockPath})
		if err == nil || !strings.Contains(err.Error(), "what it changed was undone") {
			t.Fatalf("sync over a conflict: %v", err)
		}
		if after := syncLocal(t, ws, "undo"); !maps.Equal(before, after) {
			t.Fatalf("LOCAL after the undo: %v, want %v", after, before)
		}
		if _, err := os.Lstat(filepath.Join(e.Venv.SitePackages(), "alpha")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("alpha's link stayed: %v", err)
		}
		mustDo(t, os.Remove(block))
		if got := syncView(t, ws, "undo"); got != view {
			t.Fatalf("view after the undo: %s, want %s", got, view)
		}
	})

	t.Run("into an environment with other packages", func(t *testing.T) {
		rep, err := Sync(ctx, ws, SyncOptions{Env: "dst", Lock: lockPath})
		mustDo(t, err)
		if !rep.Changed || rep.Added != 2 || rep.Removed != 1 {
			t.Fatalf("report %+v", rep)
		}
		if got := syncView(t, ws, "dst"); got != srcView {
			t.Fatalf("dst sees %s, src %s", got, srcView)
		}
		if got := syncDigests(t, ws, "dst"); !maps.Equal(got, srcDigests) {
			t.Fatalf("dst digests %v, src %v", got, srcDigests)
		}
		e, err := ws.OpenEnv(ctx, "dst")
		mustDo(t, err)
		if out, err := exec.Command(e.Venv.Interpreter(), "-m", "pip", "check").CombinedOutput(); err != nil {
			t.Fatalf("pip check: %v\n%s", err, out)
		}
		again, err := Sync(ctx, ws, SyncOptions{Env: "dst", Lock: lockPath})
		mustDo(t, err)
		if again.Changed || again.Kept != 3 || again.Added+again.Removed != 0 || again.AutoSnapshot != "" {
			t.Fatalf("second sync: %s %+v", planOf(again), again)
		}

		// The sync is in dst's history with what it changed, and the
		// automatic snapshot taken before it undoes it.
		h, err := History(ctx, ws, "dst")
		mustDo(t, err)
		var syncs []store.HistoryEntry
		for _, op := range h.Operations {
			if strings.HasPrefix(op.Command, "forge sync ") {
				syncs = append(syncs, op)
			}
		}
		if len(syncs) != 2 || syncs[0].Status != store.HistoryOK {
			t.Fatalf("sync history: %+v", syncs)
		}
		if got := HistorySummary(syncs[0].Changes); got != "+alpha 1.0 -stray 3.0 ~beta 1.0→1.2" {
			t.Fatalf("first sync's changes: %q", got)
		}
		if !strings.HasPrefix(rep.AutoSnapshot, "auto-sync-") {
			t.Fatalf("auto snapshot %q", rep.AutoSnapshot)
		}
		if _, err := Rollback(ctx, ws, RollbackOptions{Env: "dst", Name: rep.AutoSnapshot}); err != nil {
			t.Fatal(err)
		}
		if got := syncLocal(t, ws, "dst"); got["stray"] == "" || got["alpha"] != "" {
			t.Fatalf("dst after rolling the sync back: %v", got)
		}
		if _, err := Sync(ctx, ws, SyncOptions{Env: "dst", Lock: lockPath}); err != nil {
			t.Fatal(err)
		}
		if got := syncView(t, ws, "dst"); got != srcView {
			t.Fatalf("dst after syncing again sees %s, src %s", got, srcView)
		}
	})

	t.Run("a parent's copy is kept there", func(t *testing.T) {
		_, err := ws.Create(ctx, workspace.CreateOptions{Name: "kid", Parent: "src", WithoutPip: true})
		mustDo(t, err)
		_, err = ws.Install(ctx, workspace.InstallOptions{Env: "kid", Specs: []string{betaOld}})
		mustDo(t, err)
		rep, err := Sync(ctx, ws, SyncOptions{Env: "kid", Lock: lockPath})
		mustDo(t, err)
		want := "keep alpha 1.0 from src; remove beta 1.0; keep beta 1.2 from src; keep pip " + l.Packages[2].Version + " from src; "
		if got := planOf(rep); got != want {
			t.Fatalf("plan %q, want %q", got, want)
		}
		if got := syncLocal(t, ws, "kid"); len(got) != 0 {
			t.Fatalf("kid's LOCAL: %v", got)
		}
		if got := syncView(t, ws, "kid"); got != srcView {
			t.Fatalf("kid sees %s, want %s", got, srcView)
		}
	})

	t.Run("another forge home fetches from the lock's paths", func(t *testing.T) {
		far := farHome(t)
		rep, err := Sync(ctx, far, SyncOptions{Env: "far", Lock: lockPath})
		mustDo(t, err)
		if rep.Fetched != 3 || rep.Added != 3 {
			t.Fatalf("report %s %+v", planOf(rep), rep)
		}
		if got := syncView(t, far, "far"); got != srcView {
			t.Fatalf("far sees %s, want %s", got, srcView)
		}
		if got := syncDigests(t, far, "far"); !maps.Equal(got, srcDigests) {
			t.Fatalf("far digests %v, src %v", got, srcDigests)
		}
		// The store remembers where it read the wheels: far's own lock
		// points at the same files.
		fl, err := Lock(ctx, far, LockOptions{Env: "far"})
		mustDo(t, err)
		for i, p := range fl.Packages {
			if p.Wheels[0].Path == "" || p.Wheels[0].Path != l.Packages[i].Wheels[0].Path {
				t.Errorf("far's lock: %s at %q, src's at %q", p.Name, p.Wheels[0].Path, l.Packages[i].Wheels[0].Path)
			}
		}
	})

	// A lock of alpha and beta only, whose wheels are at URLs forge cannot
	// reach: a relative path that is not there, and an https URL.
	remote := editLock(t, t.TempDir(), lockPath, func(l *lockfile.Lock) {
		l.Packages = l.Packages[:2]
		l.Packages[0].Wheels[0].Path = "wheels/" + filepath.Base(alpha)
		l.Packages[1].Wheels[0].Path = ""
		l.Packages[1].Wheels[0].URL = "https://files.example.invalid/" + filepath.Base(beta)
	})

	t.Run("another forge home fetches from --find-links", func(t *testing.T) {
		far := farHome(t)
		dry, err := Sync(ctx, far, SyncOptions{Env: "far", Lock: remote, FindLinks: whl, DryRun: true})
		mustDo(t, err)
		if got, want := planOf(dry), "add alpha 1.0 fetch; add beta 1.2 fetch; "; got != want || dry.Packages[0].Fetch != filepath.Join(whl, filepath.Base(alpha)) {
			t.Fatalf("dry run %q %+v, want %q", got, dry.Packages, want)
		}
		if _, err := far.Store.Get(ctx, alphaSHA); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("dry run fetched alpha: %v", err)
		}
		rep, err := Sync(ctx, far, SyncOptions{Env: "far", Lock: remote, FindLinks: whl})
		mustDo(t, err)
		if rep.Fetched != 2 {
			t.Fatalf("report %+v", rep)
		}
		if got, want := syncView(t, far, "far"), "[('alpha', '1.0'), ('beta', '1.2')]"; got != want {
			t.Fatalf("far sees %s, want %s", got, want)
		}
	})

	t.Run("a wheel whose hash is not the lock's is refused", func(t *testing.T) {
		far := farHome(t, stray)
		before, view := syncLocal(t, far, "far"), syncView(t, far, "far")
		// beta 1.0's file where the lock has beta 1.2's (same file name).
		swapped := filepath.Join(t.TempDir(), filepath.Base(beta))
		data, err := os.ReadFile(betaOld)
		mustDo(t, err)
		mustDo(t, os.WriteFile(swapped, data, 0o644))
		tampered := editLock(t, t.TempDir(), lockPath, func(l *lockfile.Lock) {
			l.Packages = l.Packages[:2]
			l.Packages[1].Wheels[0].Path = swapped
			l.Packages[1].Wheels[0].Size = 0
		})
		_, err = Sync(ctx, far, SyncOptions{Env: "far", Lock: tampered})
		if !errors.Is(err, store.ErrCorrupt) {
			t.Fatalf("sync: %v, want store.ErrCorrupt", err)
		}
		for _, s := range []string{"package beta 1.2", swapped, betaSHA, betaOldSHA} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not name %s", err, s)
			}
		}
		if after := syncLocal(t, far, "far"); !maps.Equal(before, after) || syncView(t, far, "far") != view {
			t.Fatalf("LOCAL changed: %v -> %v", before, after)
		}
		if _, err := far.Store.Get(ctx, alphaSHA); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("alpha was ingested before the check failed: %v", err)
		}
	})

	t.Run("refusals change nothing", func(t *testing.T) {
		far := farHome(t, stray)
		before := syncLocal(t, far, "far")
		s3 := editLock(t, t.TempDir(), remote, func(l *lockfile.Lock) {
			l.Packages[0].Wheels[0].Path = ""
			l.Packages[0].Wheels[0].URL = "s3://bucket/" + filepath.Base(alpha)
		})
		tests := []struct {
			name string
			o    SyncOptions
			kind error
			want string
		}{
			{"truncated", SyncOptions{Lock: "../../lockfile/testdata/bad-truncated.toml"}, workspace.ErrUsage, "bad-truncated.toml: not valid TOML"},
			{"duplicate", SyncOptions{Lock: "../../lockfile/testdata/bad-duplicate.toml"}, workspace.ErrUsage, "listed twice"},
			{"lock-version 2", SyncOptions{Lock: "../../lockfile/testdata/bad-lock-version-2.toml"}, workspace.ErrUsage, `lock-version "2.0" is not supported`},
			{"not TOML", SyncOptions{Lock: "../../lockfile/testdata/bad-not-toml.toml"}, workspace.ErrUsage, "bad-not-toml.toml"},
			{"no wheel for this platform", SyncOptions{Lock: "../../lockfile/testdata/only-windows-wheel.toml"}, abi.ErrIncompatible, "winonly-1.0-cp312-cp312-win_amd64.whl"},
			{"a URL scheme pip cannot fetch", SyncOptions{Lock: s3}, workspace.ErrUsage, `cannot fetch a "s3" URL`},
			{"nowhere to fetch from", SyncOptions{Lock: remote}, store.ErrNotFound, "is not in the store and cannot be fetched"},
			{"no such lock", SyncOptions{Lock: "nope.toml"}, store.ErrNotFound, "nope.toml"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				tc.o.Env = "far"
				_, err := Sync(ctx, far, tc.o)
				if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("sync: %v, want %v naming %q", err, tc.kind, tc.want)
				}
				if after := syncLocal(t, far, "far"); !maps.Equal(before, after) {
					t.Fatalf("LOCAL changed: %v -> %v", before, after)
				}
			})
		}
	})
}

// foreignWheels writes the wheels testdata/sync/*-lock.toml lock, and
// checks that they are still the bytes those files hash.
func foreignWheels(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	want := map[string]string{
		"lockfox-2.1.0-py3-none-any.whl": "d4395c4d982243b5d93de7b9679d8142fb4cab167fba1d0c37075fbd5535eee6",
		"lockhen-1.4-py3-none-any.whl":   "2917218ce1f7e55f277387e8ece96fe406a4cbdeff190233a7a5f5455be82288",
		"lockold-0.5-py3-none-any.whl":   "62577f33e3732b60874cdee749045a95dd8b30c5f0de2cd36b9c0d914ade7dec",
	}
	for _, w := range []fixtures.Wheel{
		fixtures.PurePackage("lockfox", "2.1.0", fixtures.WithRequires("lockhen>=1.0", `lockold>=0.5; python_version < "3.11"`)),
		fixtures.PurePackage("lockhen", "1.4"),
		fixtures.PurePackage("lockold", "0.5"),
	} {
		p := fixtures.WriteWheel(t, dir, w)
		if sha, _ := wstest.FileSHA256(t, p); sha != want[filepath.Base(p)] {
			t.Fatalf("%s hashes %s now, testdata/sync says %s: the fixture changed, update the lock files", p, sha, want[filepath.Base(p)])
		}
	}
	return dir
}

// TestSyncForeignLocks syncs lock files in the shapes pip lock and uv
// export write: markers evaluated for each interpreter, an sdist-only
// Windows package left out, [tool] tables ignored, wheels found in
// --find-links by file name. pip check passes in the result.
func TestSyncForeignLocks(t *testing.T) {
	ctx := context.Background()
	ws := wstest.Open(t)
	wheels := foreignWheels(t)
	tests := []struct {
		lock, python, want string
	}{
		{"testdata/sync/pip-lock.toml", "3.12", "[('lockfox', '2.1.0'), ('lockhen', '1.4'), ('pip', '%s')]"},
		{"testdata/sync/uv-lock.toml", "3.12", "[('lockfox', '2.1.0'), ('lockhen', '1.4'), ('pip', '%s')]"},
		{"testdata/sync/uv-lock.toml", "3.10", "[('lockfox', '2.1.0'), ('lockhen', '1.4'), ('lockold', '0.5'), ('pip', '%s')]"},
	}
	for i, tc := range tests {
		t.Run(filepath.Base(tc.lock)+" on "+tc.python, func(t *testing.T) {
			wstest.NeedPython(t, tc.python)
			env := "foreign" + string(rune('a'+i))
			e, err := ws.Create(ctx, workspace.CreateOptions{Name: env, Python: tc.python})
			mustDo(t, err)
			rep, err := Sync(ctx, ws, SyncOptions{Env: env, Lock: tc.lock, FindLinks: wheels})
			mustDo(t, err)
			// pip is not in these locks: the environment's own stays.
			pip := ""
			for _, p := range rep.Packages {
				if p.Name == "pip" && p.Action == SyncRemove {
					t.Fatalf("pip removed: %s", planOf(rep))
				}
			}
			ms, err := ws.Store.ManifestFor(ctx, env, "pip")
			mustDo(t, err)
			en, err := ws.Store.Get(ctx, ms.Entry)
			mustDo(t, err)
			pip = en.Version
			if got, want := syncView(t, ws, env), strings.ReplaceAll(tc.want, "%s", pip); got != want {
				t.Fatalf("view %s, want %s (plan %s)", got, want, planOf(rep))
			}
			if out, err := exec.Command(e.Venv.Interpreter(), "-m", "pip", "check").CombinedOutput(); err != nil {
				t.Fatalf("pip check: %v\n%s", err, out)
			}
		})
	}
}

// TestSyncFetchesWithPip serves the locked wheels over HTTP on this
// machine: pip download fetches them, forge checks their hashes.
func TestSyncFetchesWithPip(t *testing.T) {
	wstest.NeedPython(t, "3.12")
	ctx := context.Background()
	ws := wstest.Open(t)
	wheels := foreignWheels(t)
	srv := httptest.NewServer(http.FileServer(http.Dir(wheels)))
	defer srv.Close()
	_, err := ws.Create(ctx, workspace.CreateOptions{Name: "web", Python: "3.12"})
	mustDo(t, err)
	served := editLock(t, t.TempDir(), "testdata/sync/pip-lock.toml", func(l *lockfile.Lock) {
		for i := range l.Packages {
			w := &l.Packages[i].Wheels[0]
			w.URL = srv.URL + "/" + w.FileName()
		}
	})
	rep, err := Sync(ctx, ws, SyncOptions{Env: "web", Lock: served})
	mustDo(t, err)
	if rep.Fetched != 2 || !strings.HasPrefix(rep.Packages[0].Fetch, "pip download lockfox @ "+srv.URL) {
		t.Fatalf("report %s %+v", planOf(rep), rep.Packages)
	}
	if got := syncView(t, ws, "web"); !strings.HasPrefix(got, "[('lockfox', '2.1.0'), ('lockhen', '1.4'), ('pip', ") {
		t.Fatalf("view %s", got)
	}

	t.Run("a served file that is not the locked one", func(t *testing.T) {
		far := wstest.Open(t)
		// No pip of its own: the base interpreter's pip downloads.
		_, err := far.Create(ctx, workspace.CreateOptions{Name: "web", Python: "3.12", WithoutPip: true})
		mustDo(t, err)
		before := syncLocal(t, far, "web")
		bad := editLock(t, t.TempDir(), served, func(l *lockfile.Lock) {
			l.Packages[1].Wheels[0].Hashes["sha256"] = strings.Repeat("ab", 32)
		})
		_, err = Sync(ctx, far, SyncOptions{Env: "web", Lock: bad})
		if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "package lockhen 1.4") || !strings.Contains(err.Error(), strings.Repeat("ab", 32)) {
			t.Fatalf("sync: %v, want store.ErrCorrupt naming lockhen and both digests", err)
		}
		if after := syncLocal(t, far, "web"); !maps.Equal(before, after) {
			t.Fatalf("LOCAL changed: %v -> %v", before, after)
		}
	})
}

// TestSyncRefusedByPolicy: a wheel the host cannot load stops the sync
// before anything changes (exit 3 in the CLI).
func TestSyncRefusedByPolicy(t *testing.T) {
	wstest.NeedPython(t, "3.12")
	if !fixtures.HaveGCC() {
		t.Skip("gcc/objcopy not on PATH: cannot build the ELF members")
	}
	ctx := context.Background()
	ws := wstest.Open(t)
	so, err := fixtures.GlibcSO(t.TempDir(), "_ext.so", "2.14", "2.34")
	mustDo(t, err)
	data, err := os.ReadFile(so)
	mustDo(t, err)
	dir := t.TempDir()
	native := fixtures.WriteWheel(t, dir, fixtures.Wheel{Name: "newglibc", Version: "1.0", Tag: "py3-none-manylinux_2_17_x86_64",
		Files: []fixtures.File{{Name: "newglibc/__init__.py", Data: []byte("")}, {Name: "newglibc/_ext.so", Data: data, Mode: 0o755}}})
	pure := fixtures.WriteWheel(t, dir, fixtures.PurePackage("plain", "1.0"))
	_, err = ws.Create(ctx, workspace.CreateOptions{Name: "src", Python: "3.12", WithoutPip: true})
	mustDo(t, err)
	_, err = ws.Install(ctx, workspace.InstallOptions{Env: "src", Specs: []string{native, pure}, Policy: string(abi.AllowABI)})
	mustDo(t, err)
	l, err := Lock(ctx, ws, LockOptions{Env: "src"})
	mustDo(t, err)
	lockPath := wstest.WriteLock(t, t.TempDir(), l)
	_, err = ws.Create(ctx, workspace.CreateOptions{Name: "old", Python: "3.12", WithoutPip: true})
	mustDo(t, err)
	ws.Host = fixtures.Profile("nogpu-glibc217")
	_, err = Sync(ctx, ws, SyncOptions{Env: "old", Lock: lockPath, Policy: abi.StrictABI})
	if !errors.Is(err, abi.ErrIncompatible) || !strings.Contains(err.Error(), "newglibc 1.0") {
		t.Fatalf("sync: %v, want abi.ErrIncompatible naming newglibc", err)
	}
	if got := syncLocal(t, ws, "old"); len(got) != 0 {
		t.Fatalf("LOCAL changed: %v", got)
	}
	rep, err := Sync(ctx, ws, SyncOptions{Env: "old", Lock: lockPath, Policy: abi.StrictABI, DryRun: true})
	if !errors.Is(err, abi.ErrIncompatible) || rep == nil || rep.Packages[0].Verdict != abi.Refuse {
		t.Fatalf("dry run: %v %+v", err, rep)
	}
}
