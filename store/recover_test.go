package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/store"
)

// TestRecoverEntry: the row RecoverEntry makes from an entry directory
// alone matches the row ingest made from the wheel (but for the wheel
// file's size, which the directory does not hold), ELF facts included.
func TestRecoverEntry(t *testing.T) {
	wheels := []struct {
		name string
		make func() (fixtures.Wheel, error)
	}{
		{"pure with scripts", func() (fixtures.Wheel, error) { return fixtures.PurePackage("demo", "1.0"), nil }},
		{"data categories", func() (fixtures.Wheel, error) { return fixtures.DataPackage("withdata", "2.1"), nil }},
		{"ELF members", func() (fixtures.Wheel, error) {
			if !fixtures.HaveGCC() {
				return fixtures.Wheel{}, errors.New("skip: no gcc")
			}
			a, _, err := fixtures.NamespacePair()
			return a, err
		}},
	}
	for _, tc := range wheels {
		t.Run(tc.name, func(t *testing.T) {
			w, err := tc.make()
			if err != nil {
				t.Skip(err)
			}
			ctx := context.Background()
			s := openStore(t)
			res, err := s.Ingest(ctx, writeWheel(t, w))
			if err != nil {
				t.Fatal(err)
			}
			want := *res.Entry
			if _, err := s.DB().ExecContext(ctx, `DELETE FROM entries WHERE sha256 = ?`, want.SHA256); err != nil {
				t.Fatal(err)
			}
			got, err := s.RecoverEntry(ctx, want.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			want.WheelSize = 0
			a, _ := json.Marshal(want)
			b, _ := json.Marshal(got)
			if string(a) != string(b) {
				t.Errorf("recovered entry differs:\n got  %s\n want %s", b, a)
			}
		})
	}
}

// TestRecoverEntryRefusesDamage: a directory whose files differ from its
// RECORD gets no row.
func TestRecoverEntryRefusesDamage(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	res, err := s.Ingest(ctx, writeWheel(t, fixtures.PurePackage("demo", "1.0")))
	if err != nil {
		t.Fatal(err)
	}
	sha := res.Entry.SHA256
	if _, err := s.DB().ExecContext(ctx, `DELETE FROM entries WHERE sha256 = ?`, sha); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(s.EntryDir(sha), "demo", "__init__.py")
	os.Chmod(filepath.Dir(p), 0o755)
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, []byte("tampered\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecoverEntry(ctx, sha); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("RecoverEntry of a damaged entry: %v, want ErrCorrupt", err)
	}
	if _, err := s.Get(ctx, sha); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a row was made: %v", err)
	}
}
