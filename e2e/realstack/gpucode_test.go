package realstack

import (
	"context"
	"strings"
	"testing"
)

// TestGPUCodeAgreesWithCuobjdump compares, for every ELF file of every
// corpus wheel, the GPU code abi.ReadELF finds (cubin archs including the
// arch-specific 'a', PTX archs with their ISA version) with cuobjdump's.
// Any disagreement fails the test; the table lists every file.
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
	for _, r := range rs {
		if !r.CubinAgree() || !r.PTXAgree() {
			bad = append(bad, short(r.Wheel)+":"+r.Path+": "+diffText(r))
		}
	}
	if len(bad) > 0 {
		t.Errorf("forge's GPU code disagrees with cuobjdump on %d of %d files:\n%s", len(bad), f.Files, strings.Join(bad, "\n"))
	}
}
