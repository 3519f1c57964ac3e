package abi_test

import (
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/fixtures"
)

// testWheels builds the fingerprints of the matrix's wheels from real ELF files.
func testWheels(t *testing.T) map[string]*abi.Fingerprint {
	files := builtELFs(t)
	m := func(wheelPath, fixture string) member { return fileMember(t, wheelPath, files[fixture]) }
	cudart := m("nvidia/cuda_runtime/lib/libcudart.so.12", "stub-cudart12")
	const tag217 = "-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
	return map[string]*abi.Fingerprint{
		"pure":       fingerprint(t, "pure-1.0-py3-none-any.whl", ""),
		"ext217":     fingerprint(t, "ext-1.0"+tag217, "", m("ext/_ext.so", "glibc217")),
		"ext234":     fingerprint(t, "ext-2.0"+tag217, "", m("ext/_ext.so", "glibc234")),
		"ext228":     fingerprint(t, "ext-3.0-cp311-cp311-manylinux_2_28_x86_64.whl", "", m("ext/_ext.so", "glibc228")),
		"cp312":      fingerprint(t, "ext-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", "", m("ext/_ext.so", "glibc217")),
		"abi3":       fingerprint(t, "lim-1.0-cp38-abi3-manylinux_2_17_x86_64.whl", "", m("lim/_lim.so", "glibc217")),
		"cxx":        fingerprint(t, "cxx-1.0"+tag217, "", m("cxx/_cxx.so", "glibcxx")),
		"isa4":       fingerprint(t, "fast-1.0"+tag217, "", m("fast/_v4.so", "isa4")),
		"isa4opt":    fingerprint(t, "fast-2.0"+tag217, "", m("fast/_v3.so", "isa3"), m("fast/glibc-hwcaps/x86-64-v4/_v4.so", "isa4")),
		"needs-foo":  fingerprint(t, "foo-1.0"+tag217, "", m("foo/_foo.so", "needs-foo")),
		"musl":       fingerprint(t, "m-1.0-cp311-cp311-musllinux_1_2_x86_64.whl", "", m("m/_musl.so", "musl")),
		"aarch64":    fingerprint(t, "arm-1.0-cp311-cp311-manylinux_2_17_aarch64.whl", "", m("arm/_arm.so", "aarch64")),
		"arm-as-x86": fingerprint(t, "arm-2.0"+tag217, "", m("arm/_arm.so", "aarch64")),
		"malformed":  fingerprint(t, "bad-1.0"+tag217, "", member{"bad/_bad.so", []byte("\x7fELF\x02\x01\x01garbage")}),
		// CUDA wheels.
		"cu121": fingerprint(t, "gpu-2.4.0+cu121"+tag217, "Name: gpu\nVersion: 2.4.0+cu121\nRequires-Dist: nvidia-cublas-cu12\n",
			m("gpu/_gpu.so", "cudart12"), m("gpu/_kernels.so", "fat-sm80-sm90-ptx90"), cudart),
		"cu124": fingerprint(t, "gpu-2.4.0+cu124"+tag217, "", m("gpu/_gpu.so", "cudart12"), m("gpu/_kernels.so", "fat-sm80-sm90-ptx90"), cudart),
		"cu121-all": fingerprint(t, "gpu-2.4.1+cu121"+tag217, "",
			m("gpu/_gpu.so", "cudart12"), m("gpu/_kernels.so", "fat-sm70-sm80"), cudart),
		"sm90a":       fingerprint(t, "hop-1.0"+tag217, "", m("hop/_kernels.so", "fat-sm90a")),
		"ptx80":       fingerprint(t, "jit-1.0"+tag217, "", m("jit/_kernels.so", "fat-ptx80")),
		"ptx85":       fingerprint(t, "jit-2.0"+tag217, "", m("jit/_kernels.so", "fat-ptx80-new")),
		"libcuda":     fingerprint(t, "drv-1.0"+tag217, "", m("drv/_drv.so", "libcuda")),
		"cudart-ext":  fingerprint(t, "rt-1.0"+tag217, "", m("rt/_gpu.so", "cudart12")),
		"nvreq-cu12":  fingerprint(t, "meta-1.0-py3-none-any.whl", "Name: meta\nVersion: 1.0\nRequires-Dist: nvidia-cudnn-cu12>=9\n"),
		"cpu-flavour": fingerprint(t, "gpu-2.4.0+cpu"+tag217, "", m("gpu/_ext.so", "glibc217")),
	}
}

func str(s string) *string { return &s }

func TestCheckMatrix(t *testing.T) {
	wheels := testWheels(t)
	profiles := fixtures.Profiles()
	noTags := func(name string) *abi.Host {
		h := fixtures.Profile(name)
		h.Python.Tags = nil
		h.Name += "-derived-tags"
		return h
	}
	type tc struct {
		wheel, host  string
		hostOverride *abi.Host
		opts         abi.CheckOptions
		codes        string // sorted, comma separated, "" none
		verdicts     string // strict/warn/allow
		msg          string // substring of some message
	}
	cases := []tc{
		{wheel: "pure", host: "musl-1.2", verdicts: "accept/accept/accept"},
		{wheel: "pure", host: "aarch64-glibc235", verdicts: "accept/accept/accept"},
		{wheel: "ext217", host: "nogpu-glibc217", verdicts: "accept/accept/accept"},
		{wheel: "ext217", host: "a100-driver535", verdicts: "accept/accept/accept"},
		{wheel: "ext217", host: "musl-1.2", codes: "libc_family,tag_unsupported", verdicts: "refuse/refuse/warn", msg: "platform manylinux_2_17_x86_64 not supported"},
		{wheel: "ext217", host: "aarch64-glibc235", codes: "arch,tag_unsupported", verdicts: "refuse/refuse/warn", msg: "built for x86_64, host is aarch64"},
		// glibc floors
		{wheel: "ext234", host: "a100-driver535", codes: "glibc_floor,tag_understates", verdicts: "refuse/refuse/warn", msg: "needs GLIBC_2.34 (in ext/_ext.so), host has glibc 2.31"},
		{wheel: "ext234", host: "h100-driver550", codes: "tag_understates", verdicts: "refuse/warn/accept", msg: "declares glibc 2.17"},
		{wheel: "ext228", host: "nogpu-glibc217", codes: "glibc_floor,tag_unsupported", verdicts: "refuse/refuse/warn", msg: "needs glibc 2.28, host has glibc 2.17"},
		{wheel: "ext228", host: "nogpu-glibc228", verdicts: "accept/accept/accept"},
		{wheel: "cxx", host: "v100-driver470", codes: "glibcxx_floor", verdicts: "refuse/refuse/warn", msg: "needs GLIBCXX_3.4.29 (in cxx/_cxx.so), host libstdc++ has GLIBCXX_3.4.28"},
		{wheel: "cxx", host: "h100-driver550", verdicts: "accept/accept/accept"},
		// python tags
		{wheel: "cp312", host: "a100-driver535", codes: "tag_unsupported", verdicts: "refuse/refuse/warn", msg: "interpreter cp312 not supported"},
		{wheel: "abi3", host: "a100-driver535", verdicts: "accept/accept/accept"},
		// derived tags (profile without python.tags)
		{wheel: "cp312", hostOverride: noTags("a100-driver535"), codes: "tag_unsupported", verdicts: "refuse/refuse/warn", msg: "interpreter cp312 not supported by cp 3.11.7"},
		{wheel: "abi3", hostOverride: noTags("a100-driver535"), verdicts: "accept/accept/accept"},
		{wheel: "ext217", hostOverride: noTags("nogpu-glibc217"), verdicts: "accept/accept/accept"},
		{wheel: "ext228", hostOverride: noTags("nogpu-glibc217"), codes: "glibc_floor,tag_unsupported", verdicts: "refuse/refuse/warn", msg: "platform manylinux_2_28_x86_64 needs glibc 2.28, host has glibc 2.17"},
		{wheel: "musl", hostOverride: noTags("musl-1.2"), verdicts: "accept/accept/accept"},
		{wheel: "aarch64", hostOverride: noTags("a100-driver535"), codes: "arch,tag_unsupported", verdicts: "refuse/refuse/warn", msg: "is for aarch64, host is x86_64"},
		// libc family and arch
		{wheel: "musl", host: "musl-1.2", verdicts: "accept/accept/accept"},
		{wheel: "musl", host: "a100-driver535", codes: "libc_family,tag_unsupported", verdicts: "refuse/refuse/warn", msg: "built against musl, host has glibc 2.31"},
		{wheel: "aarch64", host: "aarch64-glibc235", verdicts: "accept/accept/accept"},
		{wheel: "arm-as-x86", host: "a100-driver535", codes: "arch", verdicts: "refuse/refuse/warn"},
		// ISA levels
		{wheel: "isa4", host: "a100-driver535", codes: "isa_level", verdicts: "refuse/refuse/warn", msg: "needs x86-64-v4 (adds AVX512F"},
		{wheel: "isa4", host: "h100-driver550", verdicts: "accept/accept/accept"},
		{wheel: "isa4opt", host: "a100-driver535", codes: "isa_level", verdicts: "refuse/warn/accept", msg: "optional"},
		{wheel: "isa4opt", host: "nogpu-glibc217", codes: "isa_level,isa_level", verdicts: "refuse/refuse/warn", msg: "host CPU is x86-64-v2"},
		// libraries
		{wheel: "needs-foo", host: "a100-driver535", codes: "missing_library", verdicts: "refuse/warn/accept", msg: "needs libfoo.so.1 (in foo/_foo.so)"},
		{wheel: "needs-foo", host: "a100-driver535", opts: abi.CheckOptions{ProvidedLibs: []string{"libfoo.so.1"}}, verdicts: "accept/accept/accept"},
		{wheel: "needs-foo", host: "rtx4090-driver560", opts: abi.CheckOptions{ProvidedLibs: []string{"libfoo.so.1"}}, codes: "missing_library", verdicts: "refuse/warn/accept", msg: "libgomp.so.1"},
		{wheel: "cudart-ext", host: "a100-driver535", codes: "missing_library", verdicts: "refuse/warn/accept", msg: "libcudart.so.12"},
		{wheel: "cudart-ext", host: "a100-driver535", opts: abi.CheckOptions{ProvidedLibs: []string{"libcudart.so.12"}}, verdicts: "accept/accept/accept"},
		{wheel: "malformed", host: "a100-driver535", codes: "malformed_elf", verdicts: "refuse/warn/accept"},
		// CUDA driver
		{wheel: "cu121", host: "v100-driver470", codes: "cuda_driver,gpu_arch", verdicts: "refuse/refuse/warn", msg: "needs a driver for CUDA 12 (libcudart.so.12 in gpu/_gpu.so), host driver 470.182.03 supports CUDA 11.4"},
		{wheel: "cu121", host: "a100-driver535", verdicts: "accept/accept/accept"},
		{wheel: "cu121", host: "h100-driver550", verdicts: "accept/accept/accept"},
		{wheel: "cu121", host: "rtx4090-driver560", verdicts: "accept/accept/accept"},
		{wheel: "cu124", host: "a100-driver535", codes: "cuda_minor_compat", verdicts: "refuse/warn/accept", msg: "minor-version compatibility"},
		{wheel: "cu124", host: "h100-driver550", verdicts: "accept/accept/accept"},
		{wheel: "nvreq-cu12", host: "v100-driver470", codes: "cuda_driver", verdicts: "refuse/refuse/warn", msg: "requires nvidia-cudnn-cu12"},
		{wheel: "nvreq-cu12", host: "nogpu-glibc228", verdicts: "accept/accept/accept"},
		{wheel: "libcuda", host: "nogpu-glibc228", codes: "cuda_driver", verdicts: "refuse/refuse/warn", msg: "drv/_drv.so links libcuda.so.1, host has no NVIDIA driver"},
		{wheel: "libcuda", host: "a100-driver535", verdicts: "accept/accept/accept"},
		// GPUs: mixed hosts, visible devices, cubin vs PTX
		{wheel: "cu121", host: "v100-a100-driver535", codes: "gpu_arch", verdicts: "refuse/warn/accept", msg: "no kernel image for GPU 0 (Tesla V100-SXM2-32GB, compute capability 7.0)"},
		{wheel: "cu121", host: "v100-a100-driver535", opts: abi.CheckOptions{VisibleDevices: str("1")}, verdicts: "accept/accept/accept"},
		{wheel: "cu121", host: "v100-a100-driver535", opts: abi.CheckOptions{VisibleDevices: str("GPU-a100c0de")}, verdicts: "accept/accept/accept"},
		{wheel: "cu121", host: "v100-a100-driver535", opts: abi.CheckOptions{VisibleDevices: str("0")}, codes: "gpu_arch", verdicts: "refuse/refuse/warn"},
		{wheel: "cu121", host: "v100-a100-driver535", opts: abi.CheckOptions{VisibleDevices: str("")}, codes: "no_gpu", verdicts: "refuse/warn/accept", msg: "no GPU is visible"},
		{wheel: "cu121-all", host: "v100-a100-driver535", verdicts: "accept/accept/accept"},
		{wheel: "cu121", host: "nogpu-glibc228", codes: "no_gpu", verdicts: "refuse/warn/accept", msg: "host has no NVIDIA driver"},
		{wheel: "sm90a", host: "h100-driver550", verdicts: "accept/accept/accept"},
		{wheel: "sm90a", host: "rtx4090-driver560", codes: "gpu_arch", verdicts: "refuse/refuse/warn", msg: "hop/_kernels.so: no kernel image for GPU 0 (NVIDIA GeForce RTX 4090, compute capability 8.9); it has sm_90a"},
		{wheel: "ptx80", host: "a100-driver535", codes: "ptx_jit", verdicts: "refuse/warn/accept", msg: "jit/_kernels.so: only PTX compute_80 (PTX 8.0) for GPU 0 (8.0)"},
		{wheel: "ptx80", host: "h100-driver550", codes: "ptx_jit", verdicts: "refuse/warn/accept"},
		{wheel: "ptx80", host: "v100-driver470", codes: "cuda_driver,gpu_arch", verdicts: "refuse/refuse/warn", msg: "needs a driver for CUDA 12 (PTX ISA 8.0 (CUDA 12.0) in jit/_kernels.so)"},
		{wheel: "ptx85", host: "a100-driver535", codes: "cuda_minor_compat,gpu_arch", verdicts: "refuse/refuse/warn", msg: "PTX 8.5 (CUDA 12.5), the driver can JIT up to CUDA 12.2"},
		{wheel: "ptx85", host: "rtx4090-driver560", codes: "ptx_jit", verdicts: "refuse/warn/accept"},
		{wheel: "cpu-flavour", host: "nogpu-glibc217", verdicts: "accept/accept/accept"},
	}
	for _, c := range cases {
		h := c.hostOverride
		if h == nil {
			h = profiles[c.host]
		}
		name := c.wheel + "@" + h.Name
		if c.opts.VisibleDevices != nil {
			name += "/visible=" + *c.opts.VisibleDevices
		}
		if len(c.opts.ProvidedLibs) > 0 {
			name += "/provided"
		}
		t.Run(name, func(t *testing.T) {
			fp := wheels[c.wheel]
			if fp == nil {
				t.Fatalf("no wheel %q", c.wheel)
			}
			findings := abi.Check(fp, h, c.opts)
			var codes []string
			for _, f := range findings {
				codes = append(codes, f.Code)
				if f.Message == "" || f.Severity == "" {
					t.Errorf("finding %+v lacks message or severity", f)
				}
			}
			sort.Strings(codes)
			if got := strings.Join(codes, ","); got != c.codes {
				t.Errorf("codes = %q, want %q\n%v", got, c.codes, findings)
			}
			var vs []string
			for _, p := range abi.Policies {
				v := abi.Decide(h.Name, p, findings)
				if v.Host != h.Name || v.Policy != p || len(v.Findings) != len(findings) {
					t.Errorf("verdict %+v does not carry host, policy and findings", v)
				}
				vs = append(vs, string(v.Verdict))
			}
			if got := strings.Join(vs, "/"); got != c.verdicts {
				t.Errorf("verdicts strict/warn/allow = %s, want %s\n%v", got, c.verdicts, findings)
			}
			if c.msg != "" && !slices.ContainsFunc(findings, func(f abi.Finding) bool { return strings.Contains(f.Message, c.msg) }) {
				t.Errorf("no message contains %q:\n%v", c.msg, findings)
			}
		})
	}
}

func TestCheckSeverities(t *testing.T) {
	wheels := testWheels(t)
	findings := abi.Check(wheels["cu121"], fixtures.Profile("v100-a100-driver535"), abi.CheckOptions{})
	if len(findings) != 1 || findings[0].Severity != abi.Risk {
		t.Errorf("some-GPUs-uncovered should be one risk finding, got %v", findings)
	}
	findings = abi.Check(wheels["cu121"], fixtures.Profile("v100-a100-driver535"), abi.CheckOptions{VisibleDevices: str("0")})
	if len(findings) != 1 || findings[0].Severity != abi.Incompatible {
		t.Errorf("all-visible-GPUs-uncovered should be incompatible, got %v", findings)
	}
}

func TestVisibleGPUs(t *testing.T) {
	h := fixtures.Profile("v100-a100-driver535")
	for _, tc := range []struct {
		vis  *string
		want string
	}{
		{nil, "0,1"},
		{str(""), ""},
		{str("1"), "1"},
		{str("1,0"), "1,0"},
		{str("GPU-5f2b8a1e"), "0"},
		{str("0,7,1"), "0"}, // CUDA stops at the first invalid entry
		{str("0,0"), "0"},
	} {
		var got []string
		for _, g := range abi.VisibleGPUs(h, tc.vis) {
			got = append(got, strconv.Itoa(g.Index))
		}
		name := "nil"
		if tc.vis != nil {
			name = *tc.vis
		}
		if s := strings.Join(got, ","); s != tc.want {
			t.Errorf("visible %s = %q, want %q", name, s, tc.want)
		}
	}
}

func TestParsePolicy(t *testing.T) {
	for _, s := range []string{"strict_abi", "warn_abi", "allow_abi"} {
		if p, err := abi.ParsePolicy(s); err != nil || string(p) != s {
			t.Errorf("ParsePolicy(%q) = %q, %v", s, p, err)
		}
	}
	_, err := abi.ParsePolicy("lenient")
	if err == nil || !strings.Contains(err.Error(), "strict_abi, warn_abi, allow_abi") {
		t.Errorf("err = %v, want the valid values listed", err)
	}
	if v := abi.Decide("h", "bogus", []abi.Finding{{Code: "x", Severity: abi.Risk}}); v.Policy != abi.WarnABI || v.Verdict != abi.Warn {
		t.Errorf("unknown policy: %+v, want warn_abi semantics", v)
	}
	if v := abi.Decide("h", abi.StrictABI, nil); v.Verdict != abi.Accept || v.Findings == nil {
		t.Errorf("no findings: %+v, want accept with an empty (non-nil) list", v)
	}
}

func TestChooseFlavour(t *testing.T) {
	files := builtELFs(t)
	m := func(wheelPath, fixture string) member { return fileMember(t, wheelPath, files[fixture]) }
	const tag = "-cp311-cp311-manylinux_2_17_x86_64.whl"
	cands := []*abi.Fingerprint{
		fingerprint(t, "torch-2.4.0+cpu"+tag, "", m("torch/_C.so", "glibc217")),
		fingerprint(t, "torch-2.4.0+cu118"+tag, "", m("torch/_C.so", "glibc217"), m("torch/_k.so", "fat-sm70-sm80")),
		fingerprint(t, "torch-2.4.0+cu121"+tag, "", m("torch/_C.so", "glibc217"), m("torch/_k.so", "fat-sm80-sm90-ptx90")),
		fingerprint(t, "torch-2.4.0+cu124"+tag, "", m("torch/_C.so", "glibc217"), m("torch/_k.so", "fat-sm80-sm90-ptx90")),
	}
	for _, tc := range []struct {
		host, gpu string
		policy    abi.Policy
		want      int
		err       error
	}{
		{"a100-driver535", "auto", abi.WarnABI, 2, nil},      // cu124 would need minor compat; cu121 is supported outright
		{"a100-driver535", "auto", abi.AllowABI, 2, nil},     // a flavour the driver supports outright wins over minor compat
		{"h100-driver550", "auto", abi.WarnABI, 3, nil},      // highest the driver supports
		{"v100-driver470", "auto", abi.WarnABI, 1, nil},      // CUDA 11.8 wheel on a 11.4 driver: minor compat warn, not refused
		{"v100-driver470", "auto", abi.StrictABI, 0, nil},    // strict refuses the risk: CPU build
		{"v100-a100-driver535", "auto", abi.WarnABI, 1, nil}, // only cu118 covers the V100 too
		{"nogpu-glibc228", "auto", abi.WarnABI, 0, nil},
		{"a100-driver535", "cu124", abi.WarnABI, 3, nil},
		{"a100-driver535", "cpu", abi.WarnABI, 0, nil},
		{"v100-driver470", "cu121", abi.WarnABI, 2, abi.ErrIncompatible},
		{"a100-driver535", "cu999", abi.WarnABI, -1, abi.ErrNoFlavour},
	} {
		t.Run(tc.host+"/"+tc.gpu+"/"+string(tc.policy), func(t *testing.T) {
			i, reason, err := abi.ChooseFlavour(cands, fixtures.Profile(tc.host), tc.policy, tc.gpu)
			if i != tc.want || !errors.Is(err, tc.err) || (err == nil && reason == "") {
				t.Errorf("= %d, %q, %v; want %d, err %v", i, reason, err, tc.want, tc.err)
			}
		})
	}
}
