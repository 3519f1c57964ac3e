package abi_test

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/wheel"
)

// BenchmarkReadELF fingerprints a real gcc-built shared object (versioned
// glibc references, SONAME, RUNPATH), as ingest does for every ELF member.
func BenchmarkReadELF(b *testing.B) {
	if !fixtures.HaveGCC() {
		b.Skip("gcc/objcopy not on PATH: no real ELF to read")
	}
	p, err := fixtures.BuildSharedObject(b.TempDir(), fixtures.SharedObject{
		Name: "libbench.so", Soname: "libbench.so", Runpath: "$ORIGIN",
		Refs: []fixtures.SymbolRef{{Symbol: "memcpy", Version: "GLIBC_2.14"}, {Symbol: "clock_gettime", Version: "GLIBC_2.17"}},
	})
	if err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		b.Fatal(err)
	}
	r := bytes.NewReader(data)
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		e, problems := abi.ReadELF("pkg/libbench.so", r, int64(len(data)))
		if len(problems) > 0 || e.Soname != "libbench.so" {
			b.Fatalf("unexpected result: %+v %v", e, problems)
		}
	}
}

// BenchmarkFingerprintBuilder adds 100 ELF members concurrently-safe and
// summarises, as one native wheel's ingest does.
func BenchmarkFingerprintBuilder(b *testing.B) {
	if !fixtures.HaveGCC() {
		b.Skip("gcc/objcopy not on PATH: no real ELF to read")
	}
	p, err := fixtures.BuildSharedObject(b.TempDir(), fixtures.SharedObject{Name: "libfp.so", Soname: "libfp.so"})
	if err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		b.Fatal(err)
	}
	wf, err := wheel.ParseFilename("benchpkg-1.0-py3-none-manylinux_2_17_x86_64.whl")
	if err != nil {
		b.Fatal(err)
	}
	r := bytes.NewReader(data)
	for i := 0; i < b.N; i++ {
		fb := abi.NewFingerprintBuilder(wf)
		for j := 0; j < 100; j++ {
			fb.AddELF("benchpkg/lib/libfp.so", r, int64(len(data)))
		}
		fb.Finish(100)
	}
}

// BenchmarkParseFatbin reads a fatbin of 4,096 entries (cubins and PTX of a
// few archs, as a CUDA library repeats them) through a ReaderAt.
func BenchmarkParseFatbin(b *testing.B) {
	var specs []fixtures.FatbinSpec
	for i := 0; i < 4096; i++ {
		sm := []int{70, 75, 80, 86, 89, 90}[i%6]
		if i%5 == 0 {
			specs = append(specs, fixtures.FatbinSpec{Kind: "ptx", SM: sm, PTXVersion: "8.4"})
		} else {
			specs = append(specs, fixtures.FatbinSpec{Kind: "cubin", SM: sm, ArchSpecific: sm == 90})
		}
	}
	data := fixtures.Fatbin(specs...)
	r := bytes.NewReader(data)
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		code, err := abi.ParseFatbinAt(r, int64(len(data)))
		if err != nil || len(code) == 0 {
			b.Fatalf("%d entries, %v", len(code), err)
		}
	}
}

// BenchmarkEvaluatorDecode decodes stored fingerprints that the evaluator
// has seen before, as doctor --abi does for every environment: the cost is
// reducing each to its key.
func BenchmarkEvaluatorDecode(b *testing.B) {
	raws := evaluatorBenchRaws
	ev := abi.NewEvaluator()
	for _, raw := range raws {
		if _, _, err := ev.Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, raw := range raws {
			ev.Decode(raw)
		}
	}
}

// BenchmarkPlainDecode is what BenchmarkEvaluatorDecode replaces: each
// stored fingerprint decoded with json.Unmarshal, every time.
func BenchmarkPlainDecode(b *testing.B) {
	raws := evaluatorBenchRaws
	for i := 0; i < b.N; i++ {
		for _, raw := range raws {
			var fp abi.Fingerprint
			if err := json.Unmarshal([]byte(raw), &fp); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// evaluatorBenchRaws are stored fingerprints as doctor --abi reads them: a
// pure wheel, a CUDA build of torch and an nvidia-* library wheel.
var evaluatorBenchRaws = []string{
	`{"name":"requests","version":"2.31.0","build":"","wheel_tags":["py3-none-any"],"files":42,"tags":["py3-none-any"]}`,
	`{"name":"torch","version":"2.3.0+cu121","wheel_tags":["cp311-cp311-manylinux_2_17_x86_64"],"files":12000,"cuda_flavour":"12.1","tags":["cp311-cp311-manylinux_2_17_x86_64"],"glibc_floor":"2.17","elfs":[{"path":"torch/lib/libtorch_cuda.so","glibc_floor":"2.17","needed":["libcudart.so.12","libc.so.6"],"gpu_code":[{"kind":"cubin","sm":80},{"kind":"cubin","sm":90,"arch_specific":true},{"kind":"ptx","sm":90,"ptx_version":"8.4"}]}],"needed":["libcudart.so.12"],"nvidia_requires":["nvidia-cuda-runtime-cu12"]}`,
	`{"name":"nvidia-cublas-cu12","version":"12.1.3.1","wheel_tags":["py3-none-manylinux1_x86_64"],"files":30,"tags":["py3-none-manylinux1_x86_64"]}`,
}
