package realstack

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/forge-ml/forge/fixtures"
)

// The oracles' readers, on cuobjdump's and forge's output as they really
// come (lines copied from cuobjdump 12.4 on Debian's libraries). These run
// without the corpus.

func TestParseCuobjdump(t *testing.T) {
	tests := []struct {
		name                     string
		listElf, listPTX, header string
		want                     Code
	}{
		{name: "no device code", want: Code{Cubin: []string{}, PTX: []string{}}},
		{
			name:    "cubins, arch-specific, repeated",
			listElf: "ELF file    1: libcurand.so.1.sm_50.cubin\nELF file    2: libcurand.so.2.sm_90.cubin\nELF file 1216: libcublas.so.1216.sm_50a.cubin\nELF file 1217: libcublas.so.1217.sm_90.cubin\n",
			want:    Code{Cubin: []string{"sm_50", "sm_50a", "sm_90"}, PTX: []string{}},
		},
		{
			name:    "PTX versioned from the headers; ELF code versions are not PTX",
			listElf: "ELF file    1: x.1.sm_80.cubin\n",
			listPTX: "PTX file    1: x.1.sm_80.ptx\nPTX file    2: x.2.sm_90.ptx\n",
			header: "\nFatbin elf code:\n================\narch = sm_80\ncode version = [1,7]\nhost = linux\ncompile_size = 64bit\n\n" +
				"Fatbin ptx code:\n================\narch = sm_80\ncode version = [8,4]\nhost = linux\ncompile_size = 64bit\ncompressed\n\n" +
				"Fatbin ptx code:\n================\narch = sm_90\ncode version = [7,8]\nhost = linux\n",
			want: Code{Cubin: []string{"sm_80"}, PTX: []string{"compute_80@8.4", "compute_90@7.8"}},
		},
		{
			name:    "PTX without a header stays unversioned",
			listPTX: "PTX file    1: x.1.sm_52.ptx\n",
			want:    Code{Cubin: []string{}, PTX: []string{"compute_52"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseCuobjdump(tt.listElf, tt.listPTX, tt.header)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseExpectations(t *testing.T) {
	profiles := []string{"a100", "h100", "nogpu"}
	tests := []struct {
		name, table string
		want        map[[2]string]string // cell → verdict and codes
		err         string
	}{
		{
			name:  "default then override",
			table: "# comment\nnvidia-cufft-cu12 * accept -\nnvidia-cufft-cu12 nogpu warn no_gpu,!gpu_arch\n",
			want: map[[2]string]string{
				{"nvidia-cufft-cu12", "a100"}: "accept [] []", {"nvidia-cufft-cu12", "h100"}: "accept [] []",
				{"nvidia-cufft-cu12", "nogpu"}: "warn [no_gpu] [gpu_arch]",
			},
		},
		{
			name:  "a list of profiles, a name normalised",
			table: "Nvidia_Cublas_CU12 a100,h100 warn cuda_minor_compat\n",
			want: map[[2]string]string{
				{"nvidia-cublas-cu12", "a100"}: "warn [cuda_minor_compat] []", {"nvidia-cublas-cu12", "h100"}: "warn [cuda_minor_compat] []",
			},
		},
		{name: "unknown profile", table: "torch b300 refuse gpu_arch\n", err: `no profile "b300"`},
		{name: "unknown verdict", table: "torch a100 maybe -\n", err: "is not accept, warn or refuse"},
		{name: "missing column", table: "torch a100 accept\n", err: "want 4 fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "verdicts.txt")
			if err := os.WriteFile(path, []byte(tt.table), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ParseExpectations(path, profiles)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			flat := map[[2]string]string{}
			for k, e := range got {
				flat[k] = e.Verdict + " " + strings.Join([]string{"[" + strings.Join(e.Must, " ") + "]", "[" + strings.Join(e.MustNot, " ") + "]"}, " ")
			}
			if !reflect.DeepEqual(flat, tt.want) {
				t.Errorf("got %v, want %v", flat, tt.want)
			}
		})
	}
}

func TestMissingByFile(t *testing.T) {
	fs := []finding{
		{Code: "missing_library", Message: "needs libcudnn.so.9, libfmt.so.10 (in torch/lib/libtorch_cuda.so): not in the wheel", File: "torch/lib/libtorch_cuda.so", Libraries: []string{"libcudnn.so.9", "libfmt.so.10"}},
		{Code: "missing_library", Message: "needs libprotobuf.so.32 (in torch/lib/libshm.so): not in the wheel", File: "torch/lib/libshm.so", Libraries: []string{"libprotobuf.so.32"}},
		{Code: "cuda_driver", Message: "links libcuda.so.1 (in torch/lib/libcaffe2_nvrtc.so), host has no NVIDIA driver", File: "torch/lib/libcaffe2_nvrtc.so"},
		{Code: "cuda_driver", Message: "needs a driver for CUDA 12, host driver 470 supports CUDA 11.4"},
		{Code: "gpu_arch", Message: "no kernel image for sm_100", File: "torch/lib/libtorch_cuda.so"},
	}
	got := map[string]map[string]bool{}
	missingByFile(fs, got)
	want := map[string]map[string]bool{
		"torch/lib/libtorch_cuda.so":   {"libcudnn.so.9": true, "libfmt.so.10": true},
		"torch/lib/libshm.so":          {"libprotobuf.so.32": true},
		"torch/lib/libcaffe2_nvrtc.so": {"libcuda.so.1": true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestCarveContainers builds a real shared object with one fatbin container
// in .nv_fatbin (cuobjdump's own) and one in another section, between bytes
// that only look like a container: only the second is carved, whole.
func TestCarveContainers(t *testing.T) {
	if !fixtures.HaveGCC() {
		t.Skip("no gcc")
	}
	if _, err := exec.LookPath("objcopy"); err != nil {
		t.Skip("no objcopy")
	}
	dir := t.TempDir()
	inFatbin := fixtures.Fatbin(fixtures.FatbinSpec{Kind: "cubin", SM: 52})
	outside := fixtures.Fatbin(fixtures.FatbinSpec{Kind: "cubin", SM: 80}, fixtures.FatbinSpec{Kind: "ptx", SM: 90, PTXVersion: "8.4"})
	so, err := fixtures.FatbinSO(dir, "libcarve.so", inFatbin, fixtures.SharedObject{})
	if err != nil {
		t.Fatal(err)
	}
	// A magic with header size 0x20 is not a container; then the real one.
	decoy := append([]byte{0x50, 0xed, 0x55, 0xba, 1, 0, 0x20, 0, 9, 9, 9, 9, 9, 9, 9, 9}, make([]byte, 8)...)
	blob := filepath.Join(dir, "data.bin")
	if err := os.WriteFile(blob, append(decoy, outside...), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("objcopy", "--add-section", ".data.cufft="+blob, "--set-section-flags", ".data.cufft=alloc,data", so).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, out)
	}
	carved := filepath.Join(dir, "carved.fatbin")
	n, err := CarveContainers(so, carved)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(carved)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || !bytes.Equal(got, outside) {
		t.Errorf("carved %d containers, %d bytes; want 1, the %d bytes of the container outside .nv_fatbin", n, len(got), len(outside))
	}
}
