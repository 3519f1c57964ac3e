package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/forge-ml/forge/fixtures"
)

// TestVerifyWheel: every hostile wheel whose fault is its content against
// RECORD is refused by VerifyWheel as Ingest refuses it (same keyword,
// same kind), and a sound wheel passes.
func TestVerifyWheel(t *testing.T) {
	recordFaults := []string{fixtures.WantHashMismatch, fixtures.WantSizeMismatch, fixtures.WantMissingFromZip,
		fixtures.WantNotInRecord, fixtures.WantMalformedRecord, fixtures.WantMissingRecord, fixtures.WantHashAlgorithm,
		fixtures.WantChecksum}
	dir := t.TempDir()
	n := 0
	for _, h := range fixtures.HostileWheels() {
		if !slices.Contains(recordFaults, h.Want) {
			continue
		}
		n++
		t.Run(h.Name, func(t *testing.T) {
			p := filepath.Join(dir, h.Filename)
			if err := os.WriteFile(p, h.Data, 0o644); err != nil {
				t.Fatal(err)
			}
			err := VerifyWheel(context.Background(), p)
			if err == nil {
				t.Fatalf("%s (%s) verified", h.Name, h.Doc)
			}
			if !strings.Contains(err.Error(), h.Filename) || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(h.Want)) {
				t.Errorf("error %q should name %s and say %q", err, h.Filename, h.Want)
			}
			wantKind := ErrInvalid
			if h.Kind == fixtures.KindIntegrity {
				wantKind = ErrCorrupt
			}
			if !errors.Is(err, wantKind) {
				t.Errorf("error %v is not %v", err, wantKind)
			}
		})
	}
	if n < 4 {
		t.Fatalf("only %d hostile wheels with RECORD faults", n)
	}
	t.Run("sound wheel", func(t *testing.T) {
		w := fixtures.PurePackage("sound", "1.0")
		w.EntryPoints = map[string]map[string]string{"console_scripts": {"sound": "sound:main"}}
		p, err := w.WriteTo(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyWheel(context.Background(), p); err != nil {
			t.Errorf("a sound wheel: %v", err)
		}
	})
}
