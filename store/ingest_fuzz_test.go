package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/store"
)

// checkAcceptedLayout fails t unless the entry at dir keeps to its own
// package: one .dist-info, at most its own .data directory, holding only
// install schemes, no project metadata or forge-reserved names where they
// would reach site-packages, nothing under .data/data/lib64.
func checkAcceptedLayout(t *testing.T, dir string) {
	t.Helper()
	tops, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var distInfo []string
	for _, e := range tops {
		if strings.HasSuffix(e.Name(), ".dist-info") {
			distInfo = append(distInfo, e.Name())
		}
	}
	if len(distInfo) != 1 {
		t.Fatalf("accepted entry has .dist-info directories %v", distInfo)
	}
	own := strings.TrimSuffix(distInfo[0], ".dist-info") + ".data"
	site := func(names []os.DirEntry, where string) {
		for _, e := range names {
			n := e.Name()
			if strings.HasPrefix(n, "_forge_") || (where != "" && strings.HasSuffix(n, ".dist-info")) || strings.HasSuffix(n, ".egg-info") {
				t.Fatalf("accepted entry ships %s%s into site-packages", where, n)
			}
		}
	}
	site(tops, "")
	for _, e := range tops {
		if !strings.HasSuffix(e.Name(), ".data") {
			continue
		}
		if e.Name() != own {
			t.Fatalf("accepted entry has a foreign .data directory %s (own %s)", e.Name(), own)
		}
		schemes, _ := os.ReadDir(filepath.Join(dir, own))
		for _, s := range schemes {
			switch s.Name() {
			case "purelib", "platlib":
				names, _ := os.ReadDir(filepath.Join(dir, own, s.Name()))
				site(names, own+"/"+s.Name()+"/")
			case "data":
				if _, err := os.Lstat(filepath.Join(dir, own, "data", "lib64")); err == nil {
					t.Fatal("accepted entry ships .data/data/lib64")
				}
			case "scripts", "headers":
			default:
				t.Fatalf("accepted entry has .data scheme %s", s.Name())
			}
		}
	}
}

// FuzzIngest feeds arbitrary bytes, under an arbitrary file name, to
// Store.Ingest: it never panics; a refusal wraps ErrInvalid or ErrCorrupt
// and leaves no store directory and nothing in staging; an accepted wheel
// is a complete entry whose every file matches its RECORD and that keeps to
// its own package (checkAcceptedLayout). The seeds are two good wheels and
// every hostile case under 64 KiB.
func FuzzIngest(f *testing.F) {
	for _, w := range []fixtures.Wheel{fixtures.PurePackage("fz", "1.0"), fixtures.DataPackage("fz", "1.0")} {
		b, err := w.Bytes()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(w.Filename(), b)
	}
	for _, h := range fixtures.HostileWheels() {
		if len(h.Data) < 64<<10 {
			f.Add(h.Filename, h.Data)
		}
	}
	st, err := store.Open(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	st.Workers = 2
	st.MaxMembers = 2000
	st.MaxUnpacked = 64 << 20
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		base := filepath.Base(name)
		if base == "." || base == "/" || base == "" || len(base) > 200 {
			return
		}
		p := filepath.Join(t.TempDir(), base)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return // not a name this filesystem takes
		}
		before, _ := st.EntryDirs()
		res, err := st.Ingest(ctx, p)
		staging, _ := st.StagingItems()
		if len(staging) != 0 {
			t.Fatalf("staging not empty after ingest (err %v): %v", err, staging)
		}
		if err != nil {
			if !errors.Is(err, store.ErrInvalid) && !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("refusal is neither ErrInvalid nor ErrCorrupt: %v", err)
			}
			if after, _ := st.EntryDirs(); len(after) != len(before) {
				t.Fatalf("refused wheel left a store directory: %v → %v (%v)", before, after, err)
			}
			return
		}
		sha := res.Entry.SHA256
		c, err := st.CheckEntry(ctx, sha, true)
		if err != nil {
			t.Fatalf("accepted entry does not check: %v", err)
		}
		if len(c.Missing)+len(c.Mismatch)+len(c.Extra)+len(c.Writable) != 0 {
			t.Fatalf("accepted entry is not what RECORD says: %+v", c)
		}
		checkAcceptedLayout(t, st.EntryDir(sha))
		if _, err := st.RemoveEntry(ctx, sha); err != nil {
			t.Fatal(err)
		}
	})
}
