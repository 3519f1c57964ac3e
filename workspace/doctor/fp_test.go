package doctor

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/workspace"
	"github.com/forge-ml/forge/workspace/internal/wstest"
)

// An entry fingerprinted by an older forge (no schema, here with GPU code
// its files do not have) is reported, and --fix computes the fingerprint
// again from the entry's files.
func TestDoctorRefingerprintsStaleEntries(t *testing.T) {
	f := wstest.DocSetup(t)
	ctx := context.Background()
	if _, err := f.WS.Install(ctx, workspace.InstallOptions{Env: "app", Specs: []string{f.Wheels["gamma"]}}); err != nil {
		t.Fatal(err)
	}
	en := f.Entry(t, "gamma")
	old := en.Fingerprint
	old.Schema = 0
	old.GPUCode = []abi.FatbinEntry{{Kind: abi.KindCubin, SM: 52}}
	raw, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WS.Store.DB().ExecContext(ctx, `UPDATE entries SET fingerprint = ? WHERE sha256 = ?`, string(raw), en.SHA256); err != nil {
		t.Fatal(err)
	}
	rep, err := Run(ctx, f.WS, Options{})
	if err != nil || rep.IssuesByKind[KindStaleFingerprint] != 1 {
		t.Fatalf("doctor: %v, issues %v", err, rep.IssuesByKind)
	}
	if _, err := Run(ctx, f.WS, Options{Fix: true}); err != nil {
		t.Fatal(err)
	}
	got := f.Entry(t, "gamma").Fingerprint
	if got.Schema != abi.FingerprintSchema || len(got.GPUCode) != 0 || got.Files != en.Fingerprint.Files {
		t.Errorf("after --fix: schema %d, GPU code %v, files %d (want %d, none, %d)", got.Schema, got.GPUCode, got.Files, abi.FingerprintSchema, en.Fingerprint.Files)
	}
	rep, err = Run(ctx, f.WS, Options{})
	if err != nil || rep.IssuesByKind[KindStaleFingerprint] != 0 {
		t.Errorf("doctor after --fix: %v, issues %v", err, rep.IssuesByKind)
	}
}
