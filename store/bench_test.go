package store_test

import (
	"archive/zip"
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	kflate "github.com/klauspost/compress/flate"

	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/store"
)

// semiCompressible is n deterministic bytes, half random and half text, so
// that deflate works about as hard as on a real shared library.
func semiCompressible(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	out := make([]byte, 0, n)
	text := []byte("_ZN5torch8autograd6kernelEv\x00cudaLaunchKernel\x00at::Tensor::to\x00")
	for len(out) < n {
		if rng.IntN(2) == 0 {
			for i := 0; i < 4096 && len(out) < n; i++ {
				out = append(out, byte(rng.Uint32()))
			}
		} else {
			for i := 0; i < 64 && len(out) < n; i++ {
				out = append(out, text...)
			}
		}
	}
	return out[:n]
}

// benchWheel writes a wheel of one large member and small sources.
func benchWheel(b *testing.B, bigMiB, small int) string {
	b.Helper()
	w := fixtures.Wheel{Name: "benchpkg", Version: "1.0"}
	if bigMiB > 0 {
		w.Files = append(w.Files, fixtures.File{Name: "benchpkg/lib/big.bin", Data: semiCompressible(bigMiB<<20, 1)})
	}
	for i := 0; i < small; i++ {
		w.Files = append(w.Files, fixtures.File{Name: fmt.Sprintf("benchpkg/m%02d/f%04d.py", i%10, i), Data: semiCompressible(2000+i%5000, uint64(i))})
	}
	p, err := w.WriteTo(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkIngest is a cold ingest: inflate, CRC, hash, RECORD check, write,
// fingerprint, syncfs, rename and the SQLite row.
func BenchmarkIngest(b *testing.B) {
	for _, tc := range []struct {
		name         string
		bigMiB, many int
	}{{"big32MiB", 32, 0}, {"small500", 0, 500}} {
		b.Run(tc.name, func(b *testing.B) {
			wheel := benchWheel(b, tc.bigMiB, tc.many)
			ctx := context.Background()
			b.ResetTimer()
			c0 := cpuTime()
			defer func() { b.ReportMetric(float64(cpuTime()-c0)/float64(b.N), "cpu-ns/op") }()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				s, err := store.Open(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := s.Ingest(ctx, wheel); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				s.Close()
				b.StartTimer()
			}
		})
	}
}

// BenchmarkIngestReuse is the warm path: the wheel file is known by its
// identity and its entry is complete.
func BenchmarkIngestReuse(b *testing.B) {
	wheel := benchWheel(b, 0, 20)
	s, err := store.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Ingest(ctx, wheel); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := s.Ingest(ctx, wheel)
		if err != nil || !res.Reused {
			b.Fatal(err, res)
		}
	}
}

// BenchmarkMemberInflateHash is the floor of one member: archive/zip's
// inflate and SHA-256, nothing written.
func BenchmarkMemberInflateHash(b *testing.B) { benchInflateHash(b, false) }

// BenchmarkMemberInflateHashKlauspost is the same with the inflater forge
// registers on its zip readers.
func BenchmarkMemberInflateHashKlauspost(b *testing.B) { benchInflateHash(b, true) }

func benchInflateHash(b *testing.B, klauspost bool) {
	wheel := benchWheel(b, 32, 0)
	zr, err := zip.OpenReader(wheel)
	if err != nil {
		b.Fatal(err)
	}
	defer zr.Close()
	if klauspost {
		zr.RegisterDecompressor(zip.Deflate, func(r io.Reader) io.ReadCloser { return kflate.NewReader(bufio.NewReaderSize(r, 64<<10)) })
	}
	var f *zip.File
	for _, m := range zr.File {
		if filepath.Base(m.Name) == "big.bin" {
			f = m
		}
	}
	b.SetBytes(int64(f.UncompressedSize64))
	buf := make([]byte, 256<<10)
	c0 := cpuTime()
	defer func() { b.ReportMetric(float64(cpuTime()-c0)/float64(b.N), "cpu-ns/op") }()
	for i := 0; i < b.N; i++ {
		rc, err := f.Open()
		if err != nil {
			b.Fatal(err)
		}
		h := sha256.New()
		if _, err := io.CopyBuffer(h, rc, buf); err != nil {
			b.Fatal(err)
		}
		rc.Close()
	}
}

// cpuTime is this process's user+system CPU time: on a shared machine it
// moves less with other load than wall time does.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
