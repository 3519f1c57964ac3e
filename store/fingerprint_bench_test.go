package store_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/store"
)

// elfWheel is a native wheel as fingerprinting sees one: 40 small gcc-built
// shared objects and one large library whose bulk is a .nv_fatbin section of
// fatMiB (cubins for three architectures), beside Python sources.
func elfWheel(b *testing.B, fatMiB int) string {
	b.Helper()
	if !fixtures.HaveGCC() {
		b.Skip("gcc not available")
	}
	dir := b.TempDir()
	small, err := fixtures.GlibcSO(dir, "libsmall.so")
	if err != nil {
		b.Fatal(err)
	}
	smallData, err := os.ReadFile(small)
	if err != nil {
		b.Fatal(err)
	}
	payload := semiCompressible(fatMiB<<20/3, 3)
	fat := fixtures.Fatbin(
		fixtures.FatbinSpec{Kind: "cubin", SM: 70, Payload: payload},
		fixtures.FatbinSpec{Kind: "cubin", SM: 80, Payload: payload},
		fixtures.FatbinSpec{Kind: "ptx", SM: 90, PTXVersion: "8.4", Payload: payload},
	)
	big, err := fixtures.FatbinSO(dir, "libbig.so", fat, fixtures.SharedObject{})
	if err != nil {
		b.Fatal(err)
	}
	bigData, err := os.ReadFile(big)
	if err != nil {
		b.Fatal(err)
	}
	w := fixtures.Wheel{Name: "elfpkg", Version: "1.0", Tag: "py3-none-manylinux_2_17_x86_64"}
	w.Files = append(w.Files, fixtures.File{Name: "elfpkg/lib/libbig.so", Data: bigData, Mode: 0o755})
	for i := 0; i < 40; i++ {
		w.Files = append(w.Files, fixtures.File{Name: fmt.Sprintf("elfpkg/lib/libsmall%02d.so", i), Data: smallData, Mode: 0o755})
	}
	for i := 0; i < 200; i++ {
		w.Files = append(w.Files, fixtures.File{Name: fmt.Sprintf("elfpkg/m%d/f%03d.py", i%10, i), Data: semiCompressible(3000, uint64(i))})
	}
	p, err := w.WriteTo(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkIngestFingerprint measures cold ingest of a native wheel with and
// without ELF fingerprinting; the goal is at most 10% more with it.
//
//	go test ./store -run XXX -bench IngestFingerprint -count 5
func BenchmarkIngestFingerprint(b *testing.B) {
	wheel := elfWheel(b, 24)
	for _, tc := range []struct {
		name string
		skip bool
	}{{"with", false}, {"without", true}} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				s, err := store.Open(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				store.SetSkipFingerprint(s, tc.skip)
				b.StartTimer()
				res, err := s.Ingest(ctx, wheel)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if n := len(res.Entry.Fingerprint.ELFs); (n == 0) != tc.skip {
					b.Fatalf("%d ELF files fingerprinted with skip=%v", n, tc.skip)
				}
				s.Close()
				b.StartTimer()
			}
		})
	}
}
