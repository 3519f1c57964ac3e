package abi_test

import (
	"strings"
	"testing"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/wheel"
)

func TestVariantClaims(t *testing.T) {
	h100 := hostWith(t, "nogpu-glibc228", "570.26", "12.8", "9.0")
	build := func(variantJSON string, code ...abi.FatbinEntry) *abi.Fingerprint {
		w, err := wheel.ParseFilename("torch-2.9.0-py3-none-manylinux_2_17_x86_64-cu128.whl")
		if err != nil {
			t.Fatal(err)
		}
		b := abi.NewFingerprintBuilder(w)
		b.AddParsedELF(abi.ELF{Path: "torch/lib/libtorch_cuda.so", Machine: "x86_64", CUDARuntimeMajor: 12, GPUCode: code})
		if variantJSON != "-" {
			b.SetVariantJSON([]byte(variantJSON))
		} else {
			b.SetVariantJSON(nil)
		}
		fp := b.Finish(1)
		return &fp
	}
	claims := `{"variants": {"cu128": {"nvidia": {"sm_arch": ["80", "9.0"], "cuda_version_lower_bound": ["12.8"]}}}}`
	for _, tc := range []struct {
		name, json string
		code       []abi.FatbinEntry
		want       string // message fragment of the only finding, "" for none
	}{
		{"claims hold", claims, append(cubins(80, 90), ptx(90, "8.7")), ""},
		{"claims sm_90, carries none", claims, cubins(80), "claims nvidia :: sm_arch :: 9.0, but no file carries sm_90 code"},
		{"claims CUDA 13", `{"variants": {"cu128": {"nvidia": {"cuda_version_lower_bound": ["13.0"]}}}}`, cubins(90), "needs CUDA 12"},
		{"no variant.json", "-", cubins(90), "has no .dist-info/variant.json"},
		{"label missing", `{"variants": {"cu126": {}}}`, cubins(90), "has no entry for the label"},
		{"not JSON", `{"variants": `, cubins(90), "variant.json: unexpected end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := abi.Check(build(tc.json, tc.code...), h100, abi.CheckOptions{})
			var got []abi.Finding
			for _, f := range fs {
				if f.Code == abi.CodeVariantClaim || f.Code == abi.CodeVariantMetadata {
					got = append(got, f)
				}
			}
			switch {
			case tc.want == "" && len(got) > 0:
				t.Errorf("unexpected %v", got)
			case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0].Message, tc.want)):
				t.Errorf("findings %v, want one containing %q", got, tc.want)
			}
		})
	}
}

func TestTagMessageSaysWhatIsSupported(t *testing.T) {
	h := fixtures.Profile("a100-driver535") // CPython 3.11 with its full tag list
	fp := handFingerprint("ext", "1.0", []string{"cp310-cp310-manylinux_2_17_x86_64"})
	fs := abi.Check(fp, h, abi.CheckOptions{})
	if len(fs) == 0 || fs[0].Code != abi.CodeTagUnsupported || !strings.Contains(fs[0].Message, "ABI cp310 not supported (the host takes cp310 only with ABI abi3)") {
		t.Errorf("findings %v", fs)
	}
	h.Name = ""
	if fs := abi.Check(fp, h, abi.CheckOptions{}); len(fs) == 0 || !strings.Contains(fs[0].Message, "supported by this host (cp311") {
		t.Errorf("unnamed host: %v", fs)
	}
}

func TestParseGPU(t *testing.T) {
	for in, ok := range map[string]bool{"auto": true, "": true, "cpu": true, "CU121": true, "cu118": true, "cu130": true,
		"cu999": false, "rocm": false, "cu": false, "cu12": false, "cu1x1": false} {
		if _, err := abi.ParseGPU(in); (err == nil) != ok {
			t.Errorf("ParseGPU(%q) = %v, want ok %v", in, err, ok)
		}
	}
}
