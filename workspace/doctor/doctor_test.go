package doctor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/linker"
	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/workspace"
	"github.com/forge-ml/forge/workspace/internal/wstest"
)

// betaRestored checks that beta's entry is whole again and imports.
func betaRestored(t *testing.T, f *wstest.DocFixture) {
	t.Helper()
	c, err := f.WS.Store.CheckEntry(context.Background(), f.Entry(t, "beta").SHA256, true)
	if err != nil || c.Corrupt() {
		t.Errorf("beta's entry after --fix: %+v %v", c, err)
	}
	if q, _ := f.WS.Store.Quarantined(context.Background(), f.Entry(t, "beta").SHA256); q != "" {
		t.Errorf("still quarantined: %s", q)
	}
	prints("import beta; print(beta.VERSION)", "2.0")(t, f)
}

// prints is a check that code, run by the environment's Python, prints
// want (among what else it prints).
func prints(code, want string) func(t *testing.T, f *wstest.DocFixture) {
	return func(t *testing.T, f *wstest.DocFixture) {
		t.Helper()
		if out, err := f.Python(t, code); err != nil || !strings.Contains(out, want) {
			t.Errorf("%s: %s %v, want %q", code, out, err, want)
		}
	}
}

// removeBetaInit removes beta/__init__.py from beta's store entry, as
// damage behind forge's back would.
func removeBetaInit(t *testing.T, f *wstest.DocFixture) {
	t.Helper()
	d := f.WS.Store.EntryDir(f.Entry(t, "beta").SHA256)
	os.Chmod(filepath.Join(d, "beta"), 0o755)
	if err := os.Remove(filepath.Join(d, "beta", "__init__.py")); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(d, "beta"), 0o555)
}

func kinds(issues []Issue) map[string]int {
	m := map[string]int{}
	for _, is := range issues {
		m[is.Kind]++
	}
	return m
}

func TestDoctorCleanStore(t *testing.T) {
	f := wstest.DocSetup(t)
	rep, err := Run(context.Background(), f.WS, Options{Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Clean() || len(rep.Issues) != 0 {
		t.Fatalf("issues on a clean store: %+v", rep.Issues)
	}
	// 1 env + 3 entries + 2 manifests + the links rows.
	if rep.EnvsScanned != 1 || rep.EntriesScanned != 3 || rep.MetadataRowsScanned < 6+rep.LinksScanned/2 || rep.LinksScanned == 0 {
		t.Errorf("counters: %+v", rep)
	}
	// alpha: __init__.py, 5 .data files, METADATA, WHEEL, entry_points.txt.
	if rep.FilesVerified < 9 {
		t.Errorf("files_verified = %d", rep.FilesVerified)
	}
}

func TestDoctorFindsAndFixes(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// breakIt damages the fixture.
		breakIt func(t *testing.T, f *wstest.DocFixture)
		verify  bool
		want    string // issue kind expected
		fixable bool
		// remains: the kind is expected to survive --fix.
		remains bool
		after   func(t *testing.T, f *wstest.DocFixture)
	}{
		{
			name:    "store file removed",
			breakIt: removeBetaInit,
			// The wheel it was ingested from is still there: --fix
			// re-ingests the entry (it was quarantined by --verify).
			verify: true, want: KindStoreFileMissing, fixable: true,
			after: betaRestored,
		},
		{
			name: "store file removed, wheel gone",
			breakIt: func(t *testing.T, f *wstest.DocFixture) {
				removeBetaInit(t, f)
				if err := os.Remove(f.Wheels["beta"]); err != nil {
					t.Fatal(err)
				}
			},
			verify: true, want: KindStoreFileMissing, remains: true,
			after: func(t *testing.T, f *wstest.DocFixture) {
				ctx := context.Background()
				if q, err := f.WS.Store.Quarantined(ctx, f.Entry(t, "beta").SHA256); q == "" || err != nil {
					t.Errorf("beta not quarantined: %q %v", q, err)
				}
				rep, err := Run(ctx, f.WS, Options{})
				if err != nil {
					t.Fatal(err)
				}
				for _, is := range rep.Issues {
					if !strings.Contains(is.Message, "forge install beta-2.0-py3-none-any.whl") {
						t.Errorf("%s does not say which wheel re-ingests it: %s", is.Kind, is.Message)
					}
				}
				// An install by name must not link the damaged entry.
				_, err = f.WS.Install(ctx, workspace.InstallOptions{Env: "app", Specs: []string{"beta==2.0"}})
				if !errors.Is(err, store.ErrQuarantined) {
					t.Errorf("install beta==2.0 of a quarantined entry: %v", err)
				}
			},
		},
		{
			name: "byte tampered",
			breakIt: func(t *testing.T, f *wstest.DocFixture) {
				p := filepath.Join(f.WS.Store.EntryDir(f.Entry(t, "beta").SHA256), "beta", "__init__.py")
				os.Chmod(p, 0o644)
				b, _ := os.ReadFile(p)
				b[10] ^= 1
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
			},
			verify: true, want: KindHashMismatch, fixable: true,
			after: betaRestored,
		},
		{
			name: "link broken",
			breakIt: func(t *testing.T, f *wstest.DocFixture) {
				if err := os.Remove(filepath.Join(f.Env.Venv.SitePackages(), "alpha")); err != nil {
					t.Fatal(err)
				}
			},
			want: KindBrokenLink, fixable: true,
			after: prints("import alpha; print(alpha.hello())", "hello from alpha 1.0"),
		},
		{
			name: "link target gone",
			breakIt: func(t *testing.T, f *wstest.DocFixture) {
				p := filepath.Join(f.Env.Venv.SitePackages(), "beta")
				os.Remove(p)
				if err := os.Symlink(filepath.Join(f.WS.Store.EntriesDir(), strings.Repeat("0", 64), "beta"), p); err != nil {
					t.Fatal(err)
				}
			},
			want: KindBrokenLink, fixable: true,
			after: prints("import beta; print(beta.VERSION)", "2.0"),
		},
		{
			name: "refcount corrupted",
			breakIt: func(t *testing.T, f *wstest.DocFixture) {
				if _, err := f.WS.Store.DB().Exec(`UPDATE entries SET refs = 5 WHERE norm_name = 'alpha'`); err != nil {
					t.Fatal(err)
				}
			},
			want: KindRefcount, fixable: true,
			after: func(t *testing.T, f *wstest.DocFixture) {
				if r := f.Entry(t, "alpha").Refs; r != 1 {
					t.Errorf("alpha refs = %d after recount, want 1", r)
				}
			},
		},
		{
			name: "staging left behind",
			breakIt: func(t *testing.T, f *wstest.DocFixture) {
				p := filepath.Join(f.WS.Store.StagingDir(), "0123456789abcdef-42")
				os.MkdirAll(filepath.Join(p, "pkg"), 0o755)
				os.WriteFile(filepath.Join(p, "pkg", "x.py"), []byte("x"), 0o444)
				os.Chmod(filepath.Join(p, "pkg"), 0o555)
				old := time.Now().Add(-time.Hour)
				os.Chtimes(p, old, old)
			},
			want: KindStaleStaging, fixable: true,
			after: func(t *testing.T, f *wstest.DocFixture) {
				if _, err := os.Lstat(filepath.Join(f.WS.Store.StagingDir(), "0123456789abcdef-42")); err == nil {
					t.Error("staging dir still there")
				}
			},
		},
		{
			name: "install interrupted before linking",
			breakIt: func(t *testing.T, f *wstest.DocFixture) {
				g := f.Entry(t, "gamma")
				if err := f.WS.Store.BeginLink(context.Background(), store.Manifest{Layer: "app", NormName: "gamma", Entry: g.SHA256, LinkMode: "symlink", Requested: true}); err != nil {
					t.Fatal(err)
				}
			},
			want: KindInterruptedLink, fixable: true,
			after: func(t *testing.T, f *wstest.DocFixture) {
				if _, err := f.WS.Store.ManifestFor(context.Background(), "app", "gamma"); err == nil {
					t.Error("gamma manifest still there")
				}
				if r := f.Entry(t, "gamma").Refs; r != 0 {
					t.Errorf("gamma refs = %d", r)
				}
			},
		},
		{
			name: "install interrupted after linking",
			breakIt: func(t *testing.T, f *wstest.DocFixture) {
				// BeginLink and every link made, killed before FinishLink.
				g := f.Entry(t, "gamma")
				ctx := context.Background()
				if err := f.WS.Store.BeginLink(ctx, store.Manifest{Layer: "app", NormName: "gamma", Entry: g.SHA256, LinkMode: "symlink", Requested: true}); err != nil {
					t.Fatal(err)
				}
				dir := f.WS.Store.EntryDir(g.SHA256)
				if _, err := linker.Link(linker.Plan{Layer: f.Env.Venv, Launcher: f.Env.Venv.Interpreter(), EntryDir: dir, StoreRoot: f.WS.Store.EntriesDir(),
					DistInfo: "gamma-3.0.dist-info", Project: "gamma", Mode: linker.Symlink, Requested: true, Owner: "gamma 3.0"}); err != nil {
					t.Fatal(err)
				}
			},
			want: KindInterruptedLink, fixable: true,
			after: func(t *testing.T, f *wstest.DocFixture) {
				for _, p := range []string{filepath.Join(f.Env.Venv.SitePackages(), "gamma"), filepath.Join(f.Env.Venv.SitePackages(), "gamma-3.0.dist-info"), filepath.Join(f.Env.Venv.Bin(), "gamma-cli")} {
					if _, err := os.Lstat(p); err == nil {
						t.Errorf("%s left after rollback", p)
					}
				}
				// The install can be run again.
				if _, err := f.WS.Install(context.Background(), workspace.InstallOptions{Env: "app", Specs: []string{f.Wheels["gamma"]}}); err != nil {
					t.Errorf("install after rollback: %v", err)
				}
			},
		},
		{
			name: "uninstall interrupted",
			breakIt: func(t *testing.T, f *wstest.DocFixture) {
				ctx := context.Background()
				if err := f.WS.Store.SetManifestState(ctx, "app", "beta", "unlinking"); err != nil {
					t.Fatal(err)
				}
				os.Remove(filepath.Join(f.Env.Venv.SitePackages(), "beta"))
			},
			want: KindInterruptedLink, fixable: true,
			after: func(t *testing.T, f *wstest.DocFixture) {
				if _, err := os.Lstat(filepath.Join(f.Env.Venv.SitePackages(), "beta-2.0.dist-info")); err == nil {
					t.Error("beta's .dist-info left after finishing the uninstall")
				}
				if r := f.Entry(t, "beta").Refs; r != 0 {
					t.Errorf("beta refs = %d", r)
				}
			},
		},
		{
			name: "store directory without a row",
			breakIt: func(t *testing.T, f *wstest.DocFixture) {
				p := filepath.Join(f.WS.Store.EntriesDir(), strings.Repeat("ab", 32))
				os.MkdirAll(filepath.Join(p, "x"), 0o755)
				os.Chmod(filepath.Join(p, "x"), 0o555)
				os.Chmod(p, 0o555)
			},
			want: KindOrphanDir, fixable: true,
			after: func(t *testing.T, f *wstest.DocFixture) {
				if _, err := os.Lstat(filepath.Join(f.WS.Store.EntriesDir(), strings.Repeat("ab", 32))); err == nil {
					t.Error("orphan dir still there")
				}
			},
		},
		{
			name: "shared layout without an entry (gc interrupted)",
			breakIt: func(t *testing.T, f *wstest.DocFixture) {
				p := filepath.Join(f.WS.Store.ViewsDir(), strings.Repeat("cd", 32))
				os.MkdirAll(filepath.Join(p, "0123456789abcdef"), 0o755)
				os.Symlink(filepath.Join(p, "0123456789abcdef"), filepath.Join(p, "0123456789abcdef.link"))
				os.Chmod(filepath.Join(p, "0123456789abcdef"), 0o555)
			},
			want: KindOrphanDir, fixable: true,
			after: func(t *testing.T, f *wstest.DocFixture) {
				if _, err := os.Lstat(filepath.Join(f.WS.Store.ViewsDir(), strings.Repeat("cd", 32))); err == nil {
					t.Error("orphan shared layout still there")
				}
				if _, err := os.Lstat(f.WS.Store.ViewsDir()); err != nil {
					t.Errorf("views/ itself went: %v", err)
				}
			},
		},
		{
			name: "entry directory missing",
			breakIt: func(t *testing.T, f *wstest.DocFixture) {
				if _, err := f.WS.Store.RemoveOrphanDir(context.Background(), "nothing"); err != nil {
					t.Fatal(err)
				}
				d := f.WS.Store.EntryDir(f.Entry(t, "gamma").SHA256)
				chmodTree(d)
				if err := os.RemoveAll(d); err != nil {
					t.Fatal(err)
				}
			},
			want: KindEntryMissing, fixable: true,
			after: func(t *testing.T, f *wstest.DocFixture) {
				if es, _ := f.WS.Store.Find(context.Background(), "gamma", ""); len(es) != 0 {
					t.Error("gamma row still there")
				}
			},
		},
		{
			name: "writable store file",
			breakIt: func(t *testing.T, f *wstest.DocFixture) {
				os.Chmod(filepath.Join(f.WS.Store.EntryDir(f.Entry(t, "beta").SHA256), "beta", "__init__.py"), 0o644)
			},
			want: KindWritableStore, fixable: true,
			after: func(t *testing.T, f *wstest.DocFixture) {
				fi, _ := os.Stat(filepath.Join(f.WS.Store.EntryDir(f.Entry(t, "beta").SHA256), "beta", "__init__.py"))
				if fi.Mode().Perm() != 0o444 {
					t.Errorf("mode %v after fix", fi.Mode())
				}
			},
		},
		{
			name: "link outside the store",
			breakIt: func(t *testing.T, f *wstest.DocFixture) {
				if err := os.Symlink(t.TempDir(), filepath.Join(f.Env.Venv.SitePackages(), "elsewhere")); err != nil {
					t.Fatal(err)
				}
			},
			want: KindLinkOutsideStore, remains: true,
			after: func(t *testing.T, f *wstest.DocFixture) {},
		},
		{
			name: "environment directory missing",
			breakIt: func(t *testing.T, f *wstest.DocFixture) {
				if err := os.RemoveAll(f.Env.Path); err != nil {
					t.Fatal(err)
				}
			},
			want: KindEnvMissing, fixable: true,
			after: func(t *testing.T, f *wstest.DocFixture) {
				if _, err := f.WS.Store.GetEnv(context.Background(), "app"); err == nil {
					t.Error("env row still there")
				}
				if r := f.Entry(t, "alpha").Refs; r != 0 {
					t.Errorf("alpha refs = %d", r)
				}
			},
		},
		{
			name: "environment directory without a row",
			breakIt: func(t *testing.T, f *wstest.DocFixture) {
				p := filepath.Join(f.WS.EnvsDir(), "ghost")
				os.MkdirAll(p, 0o755)
				os.WriteFile(filepath.Join(p, "pyvenv.cfg"), []byte("home = /usr/bin\nforge = true\n"), 0o644)
			},
			want: KindOrphanEnv, fixable: true,
			after: func(t *testing.T, f *wstest.DocFixture) {
				if _, err := os.Lstat(filepath.Join(f.WS.EnvsDir(), "ghost")); err == nil {
					t.Error("orphan env still there")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := wstest.DocSetup(t)
			tt.breakIt(t, f)
			rep, err := Run(ctx, f.WS, Options{Verify: tt.verify})
			if err != nil {
				t.Fatal(err)
			}
			var found *Issue
			for i, is := range rep.Issues {
				if is.Kind == tt.want {
					found = &rep.Issues[i]
				}
			}
			if found == nil {
				t.Fatalf("no %s issue; got %+v", tt.want, rep.Issues)
			}
			if found.Fixable != tt.fixable || found.Message == "" {
				t.Errorf("issue %+v: fixable %v, want %v", *found, found.Fixable, tt.fixable)
			}
			if rep.IssuesByKind[tt.want] == 0 {
				t.Errorf("issues_by_kind %v lacks %s", rep.IssuesByKind, tt.want)
			}
			if got := rep.Integrity(); got != IntegrityKind(tt.want) {
				t.Errorf("Integrity() = %v for %s", got, tt.want)
			}

			// --fix --dry-run plans and changes nothing.
			dry, err := Run(ctx, f.WS, Options{Fix: true, DryRun: true, Verify: tt.verify})
			if err != nil {
				t.Fatal(err)
			}
			if tt.fixable && len(dry.Planned) == 0 || len(dry.Applied) != 0 {
				t.Errorf("dry run: planned %v applied %v", dry.Planned, dry.Applied)
			}
			again, _ := Run(ctx, f.WS, Options{Verify: tt.verify})
			if kinds(again.Issues)[tt.want] != kinds(rep.Issues)[tt.want] {
				t.Errorf("dry run changed something: %v then %v", kinds(rep.Issues), kinds(again.Issues))
			}

			fixed, err := Run(ctx, f.WS, Options{Fix: true, Verify: tt.verify})
			if err != nil {
				t.Fatal(err)
			}
			if len(fixed.Failed) > 0 {
				t.Errorf("failed fixes: %+v", fixed.Failed)
			}
			left := kinds(fixed.Remaining)
			if tt.remains != (left[tt.want] > 0) {
				t.Errorf("after --fix remaining %v (applied %+v)", left, fixed.Applied)
			}
			for k := range left {
				if k != tt.want {
					t.Errorf("--fix left an unrelated %s issue: %+v", k, fixed.Remaining)
				}
			}
			tt.after(t, f)
			if !tt.remains {
				final, err := Run(ctx, f.WS, Options{Verify: true})
				if err != nil {
					t.Fatal(err)
				}
				if len(final.Issues) != 0 {
					t.Errorf("not clean after fix: %+v", final.Issues)
				}
			}
		})
	}
}

// chmodTree makes a store tree writable so that a test can damage it.
func chmodTree(root string) {
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
}

func TestDoctorSplitNotRecorded(t *testing.T) {
	// Two namespace packages share "ns/": the second install splits the
	// first's link into a real directory. A crash after the split and
	// before the commit leaves the first's row naming a directory.
	f := wstest.DocSetup(t)
	ctx := context.Background()
	var wheels []fixtures.Wheel
	for _, n := range []string{"ns-one", "ns-two"} {
		wheels = append(wheels, fixtures.Wheel{Name: n, Version: "1.0", Files: []fixtures.File{{Name: "ns/" + strings.TrimPrefix(n, "ns-") + "/__init__.py", Data: []byte("X = 1\n")}}})
	}
	paths := wstest.WriteWheels(t, t.TempDir(), wheels...)
	if _, err := f.WS.Install(ctx, workspace.InstallOptions{Env: "app", Specs: paths[:1]}); err != nil {
		t.Fatal(err)
	}
	res, err := f.WS.Store.Ingest(ctx, paths[1])
	if err != nil {
		t.Fatal(err)
	}
	two := res.Entry
	if err := f.WS.Store.BeginLink(ctx, store.Manifest{Layer: "app", NormName: "ns-two", Entry: two.SHA256, LinkMode: "symlink", Requested: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := linker.Link(linker.Plan{Layer: f.Env.Venv, Launcher: f.Env.Venv.Interpreter(), EntryDir: f.WS.Store.EntryDir(two.SHA256), StoreRoot: f.WS.Store.EntriesDir(),
		DistInfo: "ns_two-1.0.dist-info", Project: "ns-two", Mode: linker.Symlink, Requested: true}); err != nil {
		t.Fatal(err)
	}
	rep, err := Run(ctx, f.WS, Options{})
	if err != nil {
		t.Fatal(err)
	}
	k := kinds(rep.Issues)
	if k[KindInterruptedLink] != 1 || k[KindBrokenLink] != 1 {
		t.Fatalf("issues %+v", rep.Issues)
	}
	fixed, err := Run(ctx, f.WS, Options{Fix: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(fixed.Remaining) != 0 || len(fixed.Failed) != 0 {
		t.Fatalf("remaining %+v failed %+v", fixed.Remaining, fixed.Failed)
	}
	if out, err := f.Python(t, "import ns.one; print(ns.one.X)"); err != nil || strings.TrimSpace(out) != "1" {
		t.Errorf("ns.one after fix: %s %v", out, err)
	}
	if out, err := f.Python(t, "import ns.two"); err == nil {
		t.Errorf("ns.two importable after its install was rolled back: %s", out)
	}
	if _, err := f.WS.Install(ctx, workspace.InstallOptions{Env: "app", Specs: paths[1:]}); err != nil {
		t.Fatalf("install again: %v", err)
	}
	if out, err := f.Python(t, "import ns.one, ns.two; print(ns.one.X + ns.two.X)"); err != nil || strings.TrimSpace(out) != "2" {
		t.Errorf("both after reinstall: %s %v", out, err)
	}
}

func TestDoctorABI(t *testing.T) {
	f := wstest.DocSetup(t)
	ctx := context.Background()
	// A wheel for another Python, admitted under allow_abi: the default
	// policy refuses it.
	w := fixtures.Wheel{Name: "oldabi", Version: "1.0", Tag: "cp39-cp39-manylinux_2_17_x86_64",
		Files: []fixtures.File{{Name: "oldabi.py", Data: []byte("X = 1\n")}}}
	p, err := w.WriteTo(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WS.Install(ctx, workspace.InstallOptions{Env: "app", Specs: []string{p}, Policy: "allow_abi"}); err != nil {
		t.Fatal(err)
	}
	rep, err := ABI(ctx, f.WS, ABIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Envs) != 1 || rep.Checked != 3 || rep.Refused != 1 || rep.Accepted != 2 {
		t.Fatalf("report %+v", rep)
	}
	e := rep.Envs[0]
	if e.Verdict != abi.Refuse || e.Policy != string(abi.DefaultPolicy) {
		t.Errorf("env verdict %s policy %s", e.Verdict, e.Policy)
	}
	for _, pk := range e.Packages {
		if pk.Name == "oldabi" && (pk.Verdict != abi.Refuse || len(pk.Findings) == 0 || pk.Findings[0].Code != abi.CodeTagUnsupported) {
			t.Errorf("oldabi: %+v", pk)
		}
	}
	// Under the environment's own allow_abi it is a warning.
	if _, err := f.WS.Store.DB().Exec(`UPDATE envs SET settings = '{"abi_policy":"allow_abi"}' WHERE name = 'app'`); err != nil {
		t.Fatal(err)
	}
	rep, err = ABI(ctx, f.WS, ABIOptions{Envs: []string{"app"}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Refused != 0 || rep.Warned != 1 || rep.Envs[0].Verdict != abi.Warn {
		t.Errorf("allow_abi: %+v", rep)
	}
}

// BenchmarkDoctorABI100 measures forge doctor --abi over 100 environments
// of three packages each (one of them in GLOBAL), against a host profile.
func BenchmarkDoctorABI100(b *testing.B) {
	wstest.NeedPython(b, "3.12")
	ctx := context.Background()
	ws := wstest.Open(b)
	ws.Host = fixtures.Profile("a100-driver535")
	specs := wstest.WriteWheels(b, b.TempDir(), fixtures.PurePackage("one", "1.0"), fixtures.PurePackage("two", "1.0"), fixtures.PurePackage("three", "1.0"))
	for i := 0; i < 100; i++ {
		name := "env" + string(rune('a'+i/26)) + string(rune('a'+i%26))
		if _, err := ws.Create(ctx, workspace.CreateOptions{Name: name, Python: "3.12", WithoutPip: true}); err != nil {
			b.Fatal(err)
		}
		if _, err := ws.Install(ctx, workspace.InstallOptions{Env: name, Specs: specs[:2]}); err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			if _, err := ws.Install(ctx, workspace.InstallOptions{Env: name, Specs: specs[2:], Global: true}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rep, err := ABI(ctx, ws, ABIOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if len(rep.Envs) != 100 || rep.Checked != 300 {
			b.Fatalf("checked %d in %d envs", rep.Checked, len(rep.Envs))
		}
	}
}
