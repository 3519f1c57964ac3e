package abi_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/wheel"
)

// These tests hold the shapes the real NVIDIA stack has and synthetic
// wheels did not: device code outside .nv_fatbin (cuFFT), statically
// linked CUDA runtimes (cuBLAS), a vendored library with only PTX inside
// torch (gloo), plugins torch opens on demand (libcaffe2_nvrtc), RUNPATHs
// that climb to sibling nvidia/*/lib directories (cuSPARSE, cuSOLVER).
// e2e/realstack runs the same questions on NVIDIA's own binaries.

func TestReadELFFindsFatbinsInDataSections(t *testing.T) {
	if !fixtures.HaveGCC() {
		t.Skip("gcc/objcopy not on PATH")
	}
	dir := t.TempDir()
	// objcopy cannot add to the .data gcc made; any allocated data section
	// is scanned alike.
	p, err := fixtures.DataFatbinSO(dir, "libcufftish.so.11", ".data.kernels",
		fixtures.Fatbin(fixtures.FatbinSpec{Kind: "cubin", SM: 80, Compressed: true}, fixtures.FatbinSpec{Kind: "ptx", SM: 70, PTXVersion: "7.8", Compressed: true}),
		fixtures.Fatbin(fixtures.FatbinSpec{Kind: "cubin", SM: 90, ArchSpecific: true, Compressed: true}, fixtures.FatbinSpec{Kind: "cubin", SM: 50, RawKind: 8, Compressed: true}),
		fixtures.Fatbin(fixtures.FatbinSpec{Kind: "cubin", SM: 80, Compressed: true})) // repeated: listed once
	if err != nil {
		t.Fatal(err)
	}
	e, problems := readELFFile(t, "nvidia/cufft/lib/libcufft.so.11", p)
	if len(problems) > 0 {
		t.Fatalf("problems: %v", problems)
	}
	var got []string
	for _, c := range e.GPUCode {
		got = append(got, c.String())
	}
	if want := []string{"sm_80", "sm_90a", "compute_70", "kind8:sm_50"}; !slices.Equal(got, want) {
		t.Errorf("GPU code = %v, want %v", got, want)
	}
}

func TestReadELFIgnoresRelfatbin(t *testing.T) {
	if !fixtures.HaveGCC() {
		t.Skip("gcc/objcopy not on PATH")
	}
	dir := t.TempDir()
	p, err := fixtures.DataFatbinSO(dir, "libnccl.so.2", "__nv_relfatbin", fixtures.Fatbin(fixtures.FatbinSpec{Kind: "cubin", SM: 61}))
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := readELFFile(t, "nvidia/nccl/lib/libnccl.so.2", p); len(e.GPUCode) != 0 {
		t.Errorf("__nv_relfatbin is linker input, read %v", e.GPUCode)
	}
}

func TestReadELFBadContainerInData(t *testing.T) {
	if !fixtures.HaveGCC() {
		t.Skip("gcc/objcopy not on PATH")
	}
	good := fixtures.Fatbin(fixtures.FatbinSpec{Kind: "cubin", SM: 80})
	lying := slices.Clone(good)
	lying[8] = 0xff // size far past the section
	lying[12] = 0x7f
	dir := t.TempDir()
	p, err := fixtures.DataFatbinSO(dir, "liblie.so", ".rodata.fat", good, lying)
	if err != nil {
		t.Fatal(err)
	}
	e, problems := readELFFile(t, "pkg/liblie.so", p)
	if len(problems) != 1 || problems[0].Code != abi.CodeMalformedFatbin || !strings.Contains(problems[0].Message, "runs past the section") {
		t.Errorf("problems = %v, want one malformed_fatbin naming the size", problems)
	}
	if len(e.GPUCode) != 1 || e.GPUCode[0].String() != "sm_80" {
		t.Errorf("GPU code = %v, want the good container's sm_80", e.GPUCode)
	}
}

func readELFFile(t *testing.T, name, p string) (abi.ELF, []abi.Finding) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return abi.ReadELF(name, f, st.Size())
}

// hand-built fingerprints: Check is pure, and these shapes are about which
// file needs what, not about reading ELF (the tests above do that).

func cubins(sms ...int) []abi.FatbinEntry {
	var out []abi.FatbinEntry
	for _, sm := range sms {
		out = append(out, abi.FatbinEntry{Kind: abi.KindCubin, SM: sm})
	}
	return out
}

func ptx(sm int, version string) abi.FatbinEntry {
	return abi.FatbinEntry{Kind: abi.KindPTX, SM: sm, PTXVersion: version}
}

const manylinuxTag = "py3-none-manylinux_2_17_x86_64"

func handFingerprint(name, version string, tags []string, elfs ...abi.ELF) *abi.Fingerprint {
	w := wheel.Filename{Name: name, Version: version}
	for _, s := range tags {
		tg, err := wheel.ParseTag(s)
		if err != nil {
			panic(err)
		}
		w.Tags = append(w.Tags, tg)
	}
	b := abi.NewFingerprintBuilder(w)
	for _, e := range elfs {
		b.AddParsedELF(e)
	}
	fp := b.Finish(len(elfs))
	return &fp
}

// torchish is the CUDA build of torch in miniature: the extension module
// loads libtorch_cuda (cubins sm_50…sm_90), which loads a vendored gloo
// with only sm_52 and compute_52 (PTX 8.2); libcaffe2_nvrtc links
// libcuda.so.1 and is opened on demand; a test program sits in bin/.
func torchish() *abi.Fingerprint {
	runpath := []string{"$ORIGIN/../../nvidia/cublas/lib", "$ORIGIN"}
	return handFingerprint("torch", "2.6.0+cu124", []string{"cp311-cp311-manylinux_2_17_x86_64"},
		abi.ELF{Path: "torch/_C.cpython-311-x86_64-linux-gnu.so", Machine: "x86_64", Libc: "glibc", GlibcFloor: "2.17",
			Needed: []string{"libtorch_python.so", "libc.so.6"}, Runpath: []string{"$ORIGIN/lib"}},
		abi.ELF{Path: "torch/lib/libtorch_python.so", Soname: "libtorch_python.so", Machine: "x86_64", Libc: "glibc",
			Needed: []string{"libtorch_cuda.so"}, Runpath: runpath},
		abi.ELF{Path: "torch/lib/libtorch_cuda.so", Soname: "libtorch_cuda.so", Machine: "x86_64", Libc: "glibc",
			Needed: []string{"libgloo_cuda.so.0", "libcudart.so.12", "libcublas.so.12"}, Runpath: runpath, CUDARuntimeMajor: 12,
			GPUCode: append(cubins(50, 60, 70, 75, 80, 86, 90), abi.FatbinEntry{Kind: abi.KindCubin, SM: 90, ArchSpecific: true}, ptx(90, "8.4"))},
		abi.ELF{Path: "torch/lib/libgloo_cuda.so.0", Soname: "libgloo_cuda.so.0", Machine: "x86_64", Libc: "glibc",
			Needed: []string{"libcudart.so.12"}, Runpath: runpath, CUDARuntimeMajor: 12,
			GPUCode: append(cubins(52), ptx(52, "8.2"))},
		abi.ELF{Path: "torch/lib/libcudart.so.12", Soname: "libcudart.so.12", Machine: "x86_64", Libc: "glibc"},
		abi.ELF{Path: "torch/lib/libcaffe2_nvrtc.so", Soname: "libcaffe2_nvrtc.so", Machine: "x86_64", Libc: "glibc", GlibcFloor: "2.99",
			Needed: []string{"libcuda.so.1", "libnvrtc.so.12"}, Runpath: runpath, LinksLibcuda: true},
		abi.ELF{Path: "torch/bin/test_api", Machine: "x86_64", Libc: "glibc", Interp: "/lib64/ld-linux-x86-64.so.2",
			Needed: []string{"libtorch_cuda.so", "libgtest.so.1"}, Runpath: []string{"$ORIGIN/../lib"}},
	)
}

func hostWith(t *testing.T, base string, driver, cuda string, ccs ...string) *abi.Host {
	t.Helper()
	h := fixtures.Profile(base)
	if h == nil {
		t.Fatalf("no fixture profile %s", base)
	}
	h.Python.Tags = nil
	h.Python.Version, h.Python.ABI = "3.11.7", "cp311"
	if driver == "" {
		h.CUDA = nil
		return h
	}
	h.CUDA = &abi.CUDA{DriverVersion: driver, CUDAVersion: cuda}
	for i, cc := range ccs {
		h.CUDA.Devices = append(h.CUDA.Devices, abi.GPU{Index: i, Name: "GPU", ComputeCapability: cc})
	}
	return h
}

func codesOf(fs []abi.Finding) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.Code+"@"+f.File)
	}
	return strings.Join(s, " ")
}

func TestCheckPerFileAndOnDemand(t *testing.T) {
	provided := []string{"nvidia/cublas/lib/libcublas.so.12"}
	for _, tc := range []struct {
		name    string
		verdict abi.Outcome
		host    *abi.Host
		want    []string // code@file, in order
		msg     string
	}{
		{"no GPU: import works, plugin and test program are on demand", "warn",
			hostWith(t, "nogpu-glibc228", "", ""),
			[]string{"glibc_floor@torch/lib/libcaffe2_nvrtc.so", "tag_understates@torch/lib/libcaffe2_nvrtc.so", "cuda_driver@torch/lib/libcaffe2_nvrtc.so", "no_gpu@", "missing_library@torch/bin/test_api", "missing_library@torch/lib/libcaffe2_nvrtc.so"},
			"loaded on demand: torch/lib/libcaffe2_nvrtc.so links libcuda.so.1, host has no NVIDIA driver"},
		{"A100 driver 535: gloo runs only by JIT, named", "warn",
			hostWith(t, "nogpu-glibc228", "535.104.05", "12.2", "8.0"),
			[]string{"glibc_floor@torch/lib/libcaffe2_nvrtc.so", "tag_understates@torch/lib/libcaffe2_nvrtc.so", "cuda_minor_compat@", "ptx_jit@torch/lib/libgloo_cuda.so.0", "missing_library@torch/bin/test_api", "missing_library@torch/lib/libcaffe2_nvrtc.so"},
			"torch/lib/libgloo_cuda.so.0: only PTX compute_52 (PTX 8.2) for GPU 0 (8.0)"},
		{"A100 driver 525: gloo's PTX 8.2 is too new to JIT, and import loads gloo", "refuse",
			hostWith(t, "nogpu-glibc228", "525.60.13", "12.0", "8.0"),
			[]string{"glibc_floor@torch/lib/libcaffe2_nvrtc.so", "tag_understates@torch/lib/libcaffe2_nvrtc.so", "cuda_minor_compat@", "gpu_arch@torch/lib/libgloo_cuda.so.0", "missing_library@torch/bin/test_api", "missing_library@torch/lib/libcaffe2_nvrtc.so"},
			"compute_52 is PTX 8.2 (CUDA 12.2), the driver can JIT up to CUDA 12.0"},
		{"RTX 4090 (8.9): sm_86 cubin runs; gloo by JIT", "warn",
			hostWith(t, "nogpu-glibc228", "560.35.03", "12.6", "8.9"),
			[]string{"glibc_floor@torch/lib/libcaffe2_nvrtc.so", "tag_understates@torch/lib/libcaffe2_nvrtc.so", "ptx_jit@torch/lib/libgloo_cuda.so.0", "missing_library@torch/bin/test_api", "missing_library@torch/lib/libcaffe2_nvrtc.so"},
			""},
		{"V100 driver 470: CUDA 11 driver", "refuse",
			hostWith(t, "nogpu-glibc228", "470.182.03", "11.4", "7.0"),
			[]string{"glibc_floor@torch/lib/libcaffe2_nvrtc.so", "tag_understates@torch/lib/libcaffe2_nvrtc.so", "cuda_driver@", "gpu_arch@torch/lib/libgloo_cuda.so.0", "missing_library@torch/bin/test_api", "missing_library@torch/lib/libcaffe2_nvrtc.so"},
			"needs a driver for CUDA 12 (libcudart.so.12 in torch/lib/libgloo_cuda.so.0)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := abi.Check(torchish(), tc.host, abi.CheckOptions{ProvidedFiles: provided})
			got := codesOf(fs)
			if want := strings.Join(tc.want, " "); got != want {
				t.Errorf("findings = %s\nwant      %s\n%v", got, want, fs)
			}
			v := abi.Decide(tc.host.Name, abi.WarnABI, fs)
			if v.Verdict != tc.verdict {
				t.Errorf("verdict %s, want %s: %v", v.Verdict, tc.verdict, fs)
			}
			if tc.msg != "" && !slices.ContainsFunc(fs, func(f abi.Finding) bool { return strings.Contains(f.Message, tc.msg) }) {
				t.Errorf("no message contains %q: %v", tc.msg, fs)
			}
		})
	}
}

func TestLoadedIsTheImportClosure(t *testing.T) {
	got := torchish().Loaded()
	var paths []string
	for p := range got {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	want := []string{"torch/_C.cpython-311-x86_64-linux-gnu.so", "torch/lib/libcudart.so.12", "torch/lib/libgloo_cuda.so.0",
		"torch/lib/libtorch_cuda.so", "torch/lib/libtorch_python.so"}
	if !slices.Equal(paths, want) {
		t.Errorf("Loaded = %v, want %v", paths, want)
	}
	// A bundle of libraries (nvidia-cublas-cu12) has no extension module:
	// everything but programs is loaded by whoever depends on it.
	lib := handFingerprint("nvidia-cublas-cu12", "12.4.5.8", []string{manylinuxTag},
		abi.ELF{Path: "nvidia/cublas/lib/libcublas.so.12", Soname: "libcublas.so.12", Machine: "x86_64"},
		abi.ELF{Path: "nvidia/cublas/bin/tool", Machine: "x86_64", Interp: "/lib64/ld-linux-x86-64.so.2"})
	if l := lib.Loaded(); !l["nvidia/cublas/lib/libcublas.so.12"] || l["nvidia/cublas/bin/tool"] {
		t.Errorf("Loaded = %v", l)
	}
}

func TestCUDAFloorWithoutLibcudart(t *testing.T) {
	v100 := hostWith(t, "nogpu-glibc228", "470.182.03", "11.4", "7.0")
	a100 := hostWith(t, "nogpu-glibc228", "535.104.05", "12.2", "8.0")
	for _, tc := range []struct {
		name     string
		fp       *abi.Fingerprint
		host     *abi.Host
		verdict  abi.Outcome
		evidence string
	}{
		{"cuBLAS: static runtime, PTX 8.3", handFingerprint("nvidia-cublas", "12.4.5.8", []string{manylinuxTag},
			abi.ELF{Path: "nvidia/cublas/lib/libcublas.so.12", Machine: "x86_64", GPUCode: append(cubins(70, 80, 90), ptx(90, "8.3"))}),
			v100, "refuse", "PTX ISA 8.3 (CUDA 12.3) in nvidia/cublas/lib/libcublas.so.12"},
		{"cuFFT: old PTX, but its name says cu12", handFingerprint("nvidia-cufft-cu12", "11.2.1.3", []string{manylinuxTag},
			abi.ELF{Path: "nvidia/cufft/lib/libcufft.so.11", Machine: "x86_64", GPUCode: append(cubins(70, 80, 90), ptx(90, "7.8"))}),
			v100, "refuse", "distribution nvidia-cufft-cu12"},
		{"cuFFT on a CUDA 12 driver", handFingerprint("nvidia-cufft-cu12", "11.2.1.3", []string{manylinuxTag},
			abi.ELF{Path: "nvidia/cufft/lib/libcufft.so.11", Machine: "x86_64", GPUCode: append(cubins(70, 80, 90), ptx(90, "7.8"))}),
			a100, "accept", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := abi.Check(tc.fp, tc.host, abi.CheckOptions{})
			v := abi.Decide(tc.host.Name, abi.WarnABI, fs)
			if v.Verdict != tc.verdict {
				t.Fatalf("verdict %s, want %s: %v", v.Verdict, tc.verdict, fs)
			}
			if tc.evidence != "" && !slices.ContainsFunc(fs, func(f abi.Finding) bool {
				return f.Code == abi.CodeCUDADriver && strings.Contains(f.Message, tc.evidence)
			}) {
				t.Errorf("no cuda_driver finding names %q: %v", tc.evidence, fs)
			}
		})
	}
}

func TestUnknownKindMakesCoverageUnknown(t *testing.T) {
	a100 := hostWith(t, "nogpu-glibc228", "535.104.05", "12.2", "8.0")
	lib := func(unknownSM int) *abi.Fingerprint {
		return handFingerprint("nvidia-cufft-cu12", "11.2.1.3", []string{manylinuxTag},
			abi.ELF{Path: "nvidia/cufft/lib/libcufft.so.11", Machine: "x86_64",
				GPUCode: append(cubins(70), abi.FatbinEntry{Kind: abi.KindUnknown, RawKind: 8, SM: unknownSM})})
	}
	// An unreadable sm_80 entry may be a cubin or PTX for 8.0: unknown, a risk.
	if fs := abi.Check(lib(80), a100, abi.CheckOptions{}); codesOf(fs) != "gpu_code_unknown@nvidia/cufft/lib/libcufft.so.11" {
		t.Errorf("unknown sm_80 on 8.0: %v", fs)
	}
	// An sm_90 entry of any kind cannot run on 8.0: not covered.
	if fs := abi.Check(lib(90), a100, abi.CheckOptions{}); codesOf(fs) != "gpu_arch@nvidia/cufft/lib/libcufft.so.11" {
		t.Errorf("unknown sm_90 on 8.0: %v", fs)
	}
}

func TestMissingLibraryAsTheLoaderSeesIt(t *testing.T) {
	a100 := hostWith(t, "nogpu-glibc228", "535.104.05", "12.2", "8.0")
	cusparse := handFingerprint("nvidia-cusparse-cu12", "12.3.1.170", []string{manylinuxTag},
		abi.ELF{Path: "nvidia/cusparse/lib/libcusparse.so.12", Machine: "x86_64",
			Needed: []string{"libnvJitLink.so.12", "libc.so.6"}, Runpath: []string{"$ORIGIN/../../nvjitlink/lib"}})
	for _, tc := range []struct {
		name  string
		opts  abi.CheckOptions
		want  string
		inMsg string
	}{
		{"sibling wheel where the RUNPATH climbs", abi.CheckOptions{ProvidedFiles: []string{"nvidia/nvjitlink/lib/libnvJitLink.so.12"}}, "", ""},
		{"in the environment, off the RUNPATH", abi.CheckOptions{ProvidedFiles: []string{"nvjitlink/libnvJitLink.so.12"}},
			"missing_library@nvidia/cusparse/lib/libcusparse.so.12", "the environment has it at nvjitlink/libnvJitLink.so.12, where the loader does not look"},
		{"nowhere", abi.CheckOptions{ProvidedFiles: []string{}}, "missing_library@nvidia/cusparse/lib/libcusparse.so.12", "not on its search path (nvidia/nvjitlink/lib)"},
		{"name-only view without files", abi.CheckOptions{ProvidedLibs: []string{"libnvJitLink.so.12"}}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := abi.Check(cusparse, a100, tc.opts)
			if got := codesOf(fs); got != tc.want {
				t.Fatalf("findings %s, want %q: %v", got, tc.want, fs)
			}
			if tc.inMsg != "" && !strings.Contains(fs[0].Message, tc.inMsg) {
				t.Errorf("message %q lacks %q", fs[0].Message, tc.inMsg)
			}
		})
	}
}

func TestExtensionSuffix(t *testing.T) {
	glibcHost := hostWith(t, "nogpu-glibc228", "", "")
	musl := handFingerprint("m", "1.0", []string{"py3-none-any"},
		abi.ELF{Path: "m/_m.cpython-311-x86_64-linux-musl.so", Machine: "x86_64"})
	if fs := abi.Check(musl, glibcHost, abi.CheckOptions{}); codesOf(fs) != "libc_family@m/_m.cpython-311-x86_64-linux-musl.so" ||
		!strings.Contains(fs[0].Message, "extension-module suffix") {
		t.Errorf("musl suffix on glibc: %v", fs)
	}
	other := handFingerprint("m", "1.0", []string{"py3-none-any"},
		abi.ELF{Path: "m/_m.cpython-312-x86_64-linux-gnu.so", Machine: "x86_64", Libc: "glibc"})
	if fs := abi.Check(other, glibcHost, abi.CheckOptions{}); codesOf(fs) != "extension_suffix@m/_m.cpython-312-x86_64-linux-gnu.so" {
		t.Errorf("cp312 module under cp311: %v", fs)
	}
	for p, want := range map[string]bool{
		"torch/_C.cpython-312-x86_64-linux-gnu.so": true, "x/_x.abi3.so": true, "x/_x.so": true,
		"torch/lib/libtorch.so": false, "nvidia/cublas/lib/libcublas.so.12": false, "pkg-1.0.data/scripts/tool.so": false,
	} {
		if _, got := abi.IsExtensionModule(p); got != want {
			t.Errorf("IsExtensionModule(%q) = %v, want %v", p, got, want)
		}
	}
}
