package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"testing"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/store"
)

// abiQueryStore ingests four wheels, references three of them from linked
// manifest rows of two layers and leaves one row "linking".
func abiQueryStore(t *testing.T) (*store.Store, []string) {
	t.Helper()
	ctx := context.Background()
	s := openStore(t)
	var shas []string
	for _, n := range []string{"alpha", "beta", "gamma", "delta"} {
		res, err := s.Ingest(ctx, writeWheel(t, fixtures.PurePackage(n, "1.0")))
		if err != nil {
			t.Fatal(err)
		}
		shas = append(shas, res.Entry.SHA256)
	}
	rows := []struct {
		layer, name string
		entry       int
		state       string
	}{{"app", "alpha", 0, "linked"}, {"app", "beta", 1, "linked"}, {"GLOBAL/3.12", "alpha", 0, "linked"}, {"other", "gamma", 2, "linking"}}
	for _, r := range rows {
		if _, err := s.DB().Exec(`INSERT INTO manifests (layer, norm_name, entry, link_mode, state, requested, created_at) VALUES (?,?,?,'symlink',?,1,0)`,
			r.layer, r.name, shas[r.entry], r.state); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DB().Exec(`UPDATE entries SET refs = refs + 1 WHERE sha256 = ?`, shas[r.entry]); err != nil {
			t.Fatal(err)
		}
	}
	return s, shas
}

// viaGet is what ABIEntries must give for these digests: what Get reads.
func viaGet(t *testing.T, s *store.Store, shas []string) map[string]store.ABIEntry {
	t.Helper()
	out := map[string]store.ABIEntry{}
	for _, sha := range shas {
		e, err := s.Get(context.Background(), sha)
		if err != nil {
			continue
		}
		fp, _ := json.Marshal(e.Fingerprint)
		out[sha] = store.ABIEntry{SHA256: sha, Name: e.Name, NormName: e.NormName, Version: e.Version, Fingerprint: string(fp)}
	}
	return out
}

func byDigest(t *testing.T, es []store.ABIEntry) map[string]store.ABIEntry {
	t.Helper()
	out := map[string]store.ABIEntry{}
	for _, e := range es {
		if _, dup := out[e.SHA256]; dup {
			t.Fatalf("entry %s twice", e.SHA256)
		}
		// Compare fingerprints decoded, as Get has them.
		var fp abi.Fingerprint
		if err := json.Unmarshal([]byte(e.Fingerprint), &fp); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(fp)
		e.Fingerprint = string(b)
		out[e.SHA256] = e
	}
	return out
}

func linkedRows(t *testing.T, s *store.Store, layers ...string) []store.Manifest {
	t.Helper()
	ms, err := s.LinkedManifests(context.Background(), layers...)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Layer+"\x00"+ms[i].NormName < ms[j].Layer+"\x00"+ms[j].NormName })
	return ms
}

func TestABIQueries(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		change string // SQL applied to the store first
		gone   int    // index of an entry Get cannot read, -1 for none
	}{
		{"plain", ``, -1},
		{"unit separator in a name", `UPDATE entries SET name = 'al' || char(31) || 'pha' WHERE norm_name = 'alpha'`, -1},
		{"record separator in a version", `UPDATE entries SET version = '1' || char(30) || '0' WHERE norm_name = 'beta'`, -1},
		{"separators in a layer", `UPDATE manifests SET layer = 'a' || char(30) || char(31) || 'pp' WHERE layer = 'app'`, -1},
		{"tags Get cannot read", `UPDATE entries SET tags = '{"not":"a list"}' WHERE norm_name = 'beta'`, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, shas := abiQueryStore(t)
			if tc.change != "" {
				if _, err := s.DB().Exec(tc.change); err != nil {
					t.Fatal(err)
				}
			}
			// Every referenced entry.
			all, err := s.ABIEntries(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := viaGet(t, s, shas[:3])
			if tc.gone >= 0 {
				if _, err := s.Get(ctx, shas[tc.gone]); err == nil {
					t.Fatalf("Get reads entry %d", tc.gone)
				}
			}
			if got := byDigest(t, all); !reflect.DeepEqual(got, want) {
				t.Errorf("ABIEntries(nil):\n got  %+v\n want %+v", got, want)
			}
			// By digest: unreferenced delta is found, an unknown digest is not.
			some, err := s.ABIEntries(ctx, []string{shas[3], shas[1], "0000000000000000000000000000000000000000000000000000000000000000"})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := byDigest(t, some), viaGet(t, s, []string{shas[3], shas[1]}); !reflect.DeepEqual(got, want) {
				t.Errorf("ABIEntries(digests):\n got  %+v\n want %+v", got, want)
			}
			// Manifests: the linked rows of AllManifests.
			ms, err := s.AllManifests(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var wantMs []store.Manifest
			for _, m := range ms {
				if m.State == "linked" {
					m.LinkMode, m.Requested = "", false
					wantMs = append(wantMs, m)
				}
			}
			if got := linkedRows(t, s); !reflect.DeepEqual(got, wantMs) {
				t.Errorf("LinkedManifests():\n got  %+v\n want %+v", got, wantMs)
			}
			if got := linkedRows(t, s, "GLOBAL/3.12", "other"); len(got) != 1 || got[0].Layer != "GLOBAL/3.12" || got[0].Entry != shas[0] {
				t.Errorf("LinkedManifests(GLOBAL/3.12, other): %+v", got)
			}
		})
	}
}

func TestABIQueriesEmpty(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	es, err := s.ABIEntries(ctx, nil)
	if err != nil || len(es) != 0 {
		t.Errorf("ABIEntries on an empty store: %v %v", es, err)
	}
	ms, err := s.LinkedManifests(ctx)
	if err != nil || len(ms) != 0 {
		t.Errorf("LinkedManifests on an empty store: %v %v", ms, err)
	}
	if _, err := s.ABIEntries(ctx, []string{"x"}); err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown digest: %v", err)
	}
}

// TestABIState checks that exactly the changes an ABI re-check can see
// move the counters, and only those of the layers they touch, whatever
// makes them.
func TestABIState(t *testing.T) {
	ctx := context.Background()
	s, shas := abiQueryStore(t)
	state := func() *store.ABIState {
		t.Helper()
		st, err := s.ABIState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	first := state()
	if len(first.Instance) != 32 || first.Entries != 0 || first.Layers["app"] != 2 || first.Layers["GLOBAL/3.12"] != 1 || first.Layers["other"] != 0 {
		t.Fatalf("state after two linked rows in app, one in GLOBAL/3.12 and a linking one: %+v", first)
	}
	steps := []struct {
		name  string
		moves []string // layers, or "entries"
		do    func() error
	}{
		{"add an environment", nil, func() error {
			return s.AddEnv(ctx, store.EnvRow{Name: "e", Path: "/e", Python: "/py", PythonVersion: "3.12.1"})
		}},
		{"a row starts linking", nil, func() error {
			return s.BeginLinks(ctx, []store.Manifest{{Layer: "e", NormName: "delta", Entry: shas[3], LinkMode: "symlink", State: "linking"}})
		}},
		{"the row is linked", []string{"e"}, func() error { return s.SetManifestState(ctx, "e", "delta", "linked") }},
		{"a row moves to another layer", []string{"e", "f"}, sqlStep(s, `UPDATE manifests SET layer = 'f' WHERE layer = 'e'`)},
		{"a reference count", nil, sqlStep(s, `UPDATE entries SET refs = 0 WHERE sha256 = ?`, shas[0])},
		{"a link row", nil, sqlStep(s, `INSERT INTO links (layer, path, entry, kind) VALUES ('app', 'x', ?, 'link')`, shas[0])},
		{"a wheel file identity", nil, sqlStep(s, `INSERT INTO wheel_files (path, dev, inode, size, mtime_ns, ctime_ns, sha256) VALUES ('/w', 1, 2, 3, 4, 5, ?)`, shas[1])},
		{"a fingerprint", []string{"entries"}, sqlStep(s, `UPDATE entries SET fingerprint = '{}' WHERE sha256 = ?`, shas[2])},
		{"a linking row goes", nil, sqlStep(s, `DELETE FROM manifests WHERE state = 'linking'`)},
		{"a linked row goes", []string{"app"}, func() error { return s.RemoveManifest(ctx, "app", "beta") }},
		{"a new entry", nil, func() error {
			_, err := s.Ingest(ctx, writeWheel(t, fixtures.PurePackage("epsilon", "1.0")))
			return err
		}},
		{"an entry no row names goes", nil, sqlStep(s, `DELETE FROM entries WHERE norm_name = 'epsilon'`)},
		{"an entry a row names goes (foreign keys off)", []string{"entries"}, func() error {
			c, err := s.DB().Conn(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			defer c.ExecContext(ctx, `PRAGMA foreign_keys = 1`)
			if _, err := c.ExecContext(ctx, `PRAGMA foreign_keys = 0`); err != nil {
				return err
			}
			_, err = c.ExecContext(ctx, `DELETE FROM entries WHERE sha256 = ?`, shas[0])
			return err
		}},
		{"remove an environment", nil, func() error { return s.RemoveEnv(ctx, "e") }},
	}
	before := first
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		after := state()
		var moved []string
		if after.Entries != before.Entries {
			moved = append(moved, "entries")
		}
		for _, l := range []string{"app", "GLOBAL/3.12", "other", "e", "f"} {
			if after.Layers[l] != before.Layers[l] {
				moved = append(moved, l)
			}
		}
		if !reflect.DeepEqual(moved, st.moves) {
			t.Errorf("%s: moved %v, want %v (%+v -> %+v)", st.name, moved, st.moves, before, after)
		}
		if after.Instance != first.Instance {
			t.Errorf("%s: the identity changed: %s -> %s", st.name, first.Instance, after.Instance)
		}
		if after.Equal(before) != (len(moved) == 0) {
			t.Errorf("%s: Equal disagrees", st.name)
		}
		before = after
	}
	// Another database has another identity.
	if other, err := openStore(t).ABIState(ctx); err != nil || other.Instance == first.Instance {
		t.Errorf("a new database: %+v, %v", other, err)
	}
}

func sqlStep(s *store.Store, q string, args ...any) func() error {
	return func() error {
		_, err := s.DB().Exec(q, args...)
		return err
	}
}

func TestLinkedGlobalLayers(t *testing.T) {
	s, shas := abiQueryStore(t)
	for _, l := range []string{"GLOBAL/3.10", "GLOBALX", "GLOBAL0"} {
		if _, err := s.DB().Exec(`INSERT INTO manifests (layer, norm_name, entry, link_mode, state, requested, created_at) VALUES (?,'beta',?,'symlink','linked',1,0)`, l, shas[1]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.DB().Exec(`INSERT INTO manifests (layer, norm_name, entry, link_mode, state, requested, created_at) VALUES ('GLOBAL/3.13','beta',?,'symlink','linking',1,0)`, shas[1]); err != nil {
		t.Fatal(err)
	}
	got, err := s.LinkedGlobalLayers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"GLOBAL/3.10", "GLOBAL/3.12"}; !reflect.DeepEqual(got, want) {
		t.Errorf("LinkedGlobalLayers = %v, want %v", got, want)
	}
}
