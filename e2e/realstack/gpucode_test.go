package realstack

import (
	"context"
	"strings"
	"testing"
)

// TestGPUCodeAgreesWithCuobjdump compares, for every ELF file of every
// corpus wheel, the GPU code abi.ReadELF finds (cubin archs including the
// arch-specific 'a', PTX archs with their ISA version) with cuobjdump's.
// Any disagreement fails the test unless knownDisagreements explains it;
// a known disagreement that no longer occurs fails it too, so the table
// stays true. The table lists every file.
func TestGPUCodeAgreesWithCuobjdump(t *testing.T) {
	t.Parallel()
	c := corpus(t)
	rs, err := CompareGPUCode(context.Background(), c.cache, c.wheels)
	if err != nil {
		t.Fatal(err)
	}
	f := CountGPUCode(rs)
	if f.Files == 0 || f.WithCode == 0 {
		t.Fatalf("the corpus has %d ELF files, %d with GPU code: nothing was compared", f.Files, f.WithCode)
	}
	t.Logf("GPU code vs cuobjdump: %d ELF files (%d with GPU code); sm sets agree %d/%d, PTX sets agree %d/%d, both %d/%d",
		f.Files, f.WithCode, f.CubinAgree, f.Files, f.PTXAgree, f.Files, f.BothAgree, f.Files)
	t.Logf("\n%s", GPUCodeTable(rs))
	var bad []string
	seen := map[string]bool{}
	for _, r := range rs {
		if !r.CubinAgree() || !r.PTXAgree() {
			d := diffText(r)
			if why, ok := knownDisagreements[r.Path]; ok && why.diff == d {
				seen[r.Path] = true
				t.Logf("known: %s: %s (%s)", r.Path, d, why.reason)
				continue
			}
			bad = append(bad, short(r.Wheel)+":"+r.Path+": "+d)
		}
	}
	for p := range knownDisagreements {
		if !seen[p] {
			bad = append(bad, p+": listed in knownDisagreements but no longer disagrees (or differently): update the table")
		}
	}
	if len(bad) > 0 {
		t.Errorf("forge's GPU code disagrees with cuobjdump on %d of %d files:\n%s", len(bad), f.Files, strings.Join(bad, "\n"))
	}
}

// knownDisagreements are the files where forge and cuobjdump differ for a
// reason found and written down, with the exact difference diffText gives.
// Neither changes a verdict (see each reason).
var knownDisagreements = map[string]struct{ diff, reason string }{
	"nvidia/cublas/lib/libcublas.so.12": {"cubin: forge 8, cuobjdump 11; forge lacks sm_50a sm_60a sm_61a",
		"5 compressed cubins whose fatbin entry flags do not set 0x100000; cuobjdump reads the 'a' from inside the decompressed payload, which forge does not decompress. " +
			"Plain sm_50, sm_60 and sm_61 cubins are in the same file, so coverage of 5.x/6.x GPUs is the same either way"},
	"nvidia/cufft/lib/libcufft.so.11": {"ptx: forge 6, cuobjdump 7; forge lacks compute_50@1.57",
		"the fatbin headers of all 2,968 compute_50 PTX entries say PTX ISA 7.0 and forge reports compute_50@7.0; cuobjdump prints code version [1,57] for one of them. " +
			"cubins cover every GPU from 5.0 to 9.0 and compute_90 covers newer ones, so no verdict turns on it"},
}
