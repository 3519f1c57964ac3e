package gc_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/forge-ml/forge/workspace"
	"github.com/forge-ml/forge/workspace/doctor"
	"github.com/forge-ml/forge/workspace/gc"
	"github.com/forge-ml/forge/workspace/internal/wstest"
)

func TestGC(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// prepare changes the fixture (alpha, beta installed in app; gamma
		// only ingested).
		prepare func(t *testing.T, f *wstest.DocFixture)
		want    []string // unreferenced, by name
		// drift: refcounts were corrupted on purpose; doctor reports them.
		drift bool
	}{
		{name: "only the ingested entry", prepare: func(t *testing.T, f *wstest.DocFixture) {}, want: []string{"gamma"}},
		{name: "uninstalled entry too", prepare: func(t *testing.T, f *wstest.DocFixture) {
			if _, err := f.WS.Uninstall(ctx, workspace.UninstallOptions{Env: "app", Names: []string{"beta"}}); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"beta", "gamma"}},
		{name: "refcount drifted to zero but a manifest names it", prepare: func(t *testing.T, f *wstest.DocFixture) {
			if _, err := f.WS.Store.DB().Exec(`UPDATE entries SET refs = 0`); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"gamma"}, drift: true},
		{name: "linked into GLOBAL only", prepare: func(t *testing.T, f *wstest.DocFixture) {
			if _, err := f.WS.Install(ctx, workspace.InstallOptions{Env: "app", Specs: []string{f.Wheels["gamma"]}, Global: true}); err != nil {
				t.Fatal(err)
			}
		}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := wstest.DocSetup(t)
			tt.prepare(t, f)
			dry, err := gc.Run(ctx, f.WS, gc.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !dry.DryRun || strings.Join(wstest.GCNames(dry), ",") != strings.Join(tt.want, ",") {
				t.Fatalf("dry run lists %v, want %v", wstest.GCNames(dry), tt.want)
			}
			var total int64
			for _, e := range dry.Entries {
				en := f.Entry(t, e.Name)
				if e.Size != en.Size || e.Size <= 0 || e.SHA256 != en.SHA256 || e.Version != en.Version || e.Removed {
					t.Errorf("listed %+v, entry %+v", e, en)
				}
				total += e.Size
				if _, err := os.Stat(f.WS.Store.EntryDir(e.SHA256)); err != nil {
					t.Errorf("dry run removed %s", e.Name)
				}
			}
			if dry.TotalBytes != total {
				t.Errorf("total %d, want %d", dry.TotalBytes, total)
			}

			rep, err := gc.Run(ctx, f.WS, gc.Options{Force: true})
			if err != nil {
				t.Fatal(err)
			}
			if rep.DryRun || rep.Removed != len(tt.want) || rep.BytesFreed != total {
				t.Errorf("force: %+v", rep)
			}
			for _, e := range rep.Entries {
				if _, err := os.Lstat(f.WS.Store.EntryDir(e.SHA256)); err == nil {
					t.Errorf("%s directory still there", e.Name)
				}
			}
			// Everything a manifest names is still there and working.
			ms, _ := f.WS.Store.AllManifests(ctx)
			for _, m := range ms {
				if _, err := f.WS.Store.Get(ctx, m.Entry); err != nil {
					t.Errorf("gc removed the row of %s, which %s links", m.NormName, m.Layer)
				}
				if _, err := os.Stat(f.WS.Store.EntryDir(m.Entry)); err != nil {
					t.Errorf("gc removed the directory of %s, which %s links", m.NormName, m.Layer)
				}
			}
			if out, err := f.Python(t, "import alpha; print(alpha.VERSION)"); err != nil || strings.TrimSpace(out) != "1.0" {
				t.Errorf("alpha after gc: %s %v", out, err)
			}
			// Collected wheels can be installed again.
			if _, err := f.WS.Install(ctx, workspace.InstallOptions{Env: "app", Specs: []string{f.Wheels["gamma"]}}); err != nil {
				t.Errorf("install gamma after gc: %v", err)
			}
			doc, err := doctor.Run(ctx, f.WS, doctor.Options{Verify: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, is := range doc.Issues {
				if !(tt.drift && is.Kind == doctor.KindRefcount) {
					t.Errorf("doctor after gc: %+v", is)
				}
			}
		})
	}
}

func TestGCWaitsForInstallLock(t *testing.T) {
	f := wstest.DocSetup(t)
	ctx := context.Background()
	// An install holds "gc" shared from ingest to its manifest commit.
	lk, err := f.WS.Store.LockFile(ctx, "gc", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan struct{})
	f.WS.Log = writerFunc(func(p []byte) {
		if strings.Contains(string(p), "waiting for the lock") {
			select {
			case <-waiting:
			default:
				close(waiting)
			}
		}
	})
	done := make(chan *gc.Report)
	go func() {
		rep, err := gc.Run(ctx, f.WS, gc.Options{Force: true})
		if err != nil {
			t.Error(err)
		}
		done <- rep
	}()
	<-waiting
	select {
	case <-done:
		t.Fatal("gc ran while the lock was held shared")
	default:
	}
	// What the "install" was about to link gets its reference before the
	// lock is released: gc must not see gamma as unreferenced.
	if _, err := f.WS.Install(ctx, workspace.InstallOptions{Env: "app", Specs: []string{f.Wheels["gamma"]}}); err != nil {
		t.Fatal(err)
	}
	lk.Unlock()
	rep := <-done
	if rep == nil || rep.Removed != 0 {
		t.Fatalf("gc removed %+v", rep)
	}
}

type writerFunc func([]byte)

func (w writerFunc) Write(p []byte) (int, error) { w(p); return len(p), nil }

func TestGCStaleStaging(t *testing.T) {
	f := wstest.DocSetup(t)
	ctx := context.Background()
	now := time.Now()
	mk := func(name string, age time.Duration) string {
		p := filepath.Join(f.WS.Store.StagingDir(), name)
		if err := os.MkdirAll(filepath.Join(p, "d"), 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(p, "d"), 0o555)
		ts := now.Add(-age)
		os.Chtimes(p, ts, ts)
		return p
	}
	stale := mk("00112233445566778-1", time.Hour)
	busy := mk("8899aabbccddeeff-2", time.Hour)
	fresh := mk("ffeeddccbbaa9988-3", time.Second)
	// An ingest of busy's digest is running.
	lk, err := f.WS.Store.LockFile(ctx, "ingest-8899aabbccddeeff", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Unlock()

	dry, err := gc.Run(ctx, f.WS, gc.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(dry.Staging)
	if strings.Join(dry.Staging, ",") != stale+","+busy {
		t.Errorf("dry run staging %v", dry.Staging)
	}
	rep, err := gc.Run(ctx, f.WS, gc.Options{Force: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Staging) != 1 || rep.Staging[0] != stale {
		t.Errorf("removed staging %v", rep.Staging)
	}
	for p, want := range map[string]bool{stale: false, busy: true, fresh: true} {
		_, err := os.Lstat(p)
		if (err == nil) != want {
			t.Errorf("%s exists = %v, want %v", p, err == nil, want)
		}
	}
}
