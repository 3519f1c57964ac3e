package probe

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/klauspost/cpuid/v2"

	"github.com/forge-ml/forge/abi"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func v3CPU() cpuid.CPUInfo {
	c := cpuid.CPUInfo{VendorString: "GenuineIntel", BrandName: "  Test CPU @ 3.0GHz ", VendorID: cpuid.Intel}
	c.Enable(cpuid.CMOV, cpuid.CMPXCHG8, cpuid.X87, cpuid.FXSR, cpuid.MMX, cpuid.SYSCALL, cpuid.SSE, cpuid.SSE2,
		cpuid.CX16, cpuid.LAHF, cpuid.POPCNT, cpuid.SSE3, cpuid.SSSE3, cpuid.SSE4, cpuid.SSE42,
		cpuid.AVX, cpuid.AVX2, cpuid.BMI1, cpuid.BMI2, cpuid.F16C, cpuid.FMA3, cpuid.LZCNT, cpuid.MOVBE, cpuid.OSXSAVE)
	return c
}

func TestHost(t *testing.T) {
	py := pyenvInterpreters(t)[0]
	cache := t.TempDir()
	tests := []struct {
		name  string
		env   map[string]string
		opts  []Option
		check func(t *testing.T, h *abi.Host)
	}{
		{
			name: "dgxa100, injected CPU, empty root",
			opts: []Option{WithNVML(dgxa100.New()), WithCPU(v3CPU()), WithRoot(t.TempDir())},
			check: func(t *testing.T, h *abi.Host) {
				if h.Schema != abi.HostSchema || h.OS != "linux" || h.Arch != hostArch {
					t.Errorf("header %q %q %q", h.Schema, h.OS, h.Arch)
				}
				if h.CPU.Vendor != "GenuineIntel" || h.CPU.Brand != "Test CPU @ 3.0GHz" || (hostArch == "x86_64" && h.CPU.X86_64Level != 3) {
					t.Errorf("cpu %+v", h.CPU)
				}
				if !slices.IsSorted(h.CPU.Flags) || !slices.Contains(h.CPU.Flags, "avx2") {
					t.Errorf("flags %v", h.CPU.Flags)
				}
				if h.Libc != nil || h.Reasons[DimLibc] == "" {
					t.Errorf("libc %+v reason %q", h.Libc, h.Reasons[DimLibc])
				}
				if h.CUDA == nil || len(h.CUDA.Devices) != 8 || h.VisibleDevices != nil {
					t.Errorf("cuda %+v visible %v", h.CUDA, h.VisibleDevices)
				}
				if h.Python == nil || len(h.Python.Tags) == 0 {
					t.Fatalf("python %+v (%s)", h.Python, h.Reasons[DimPython])
				}
				// No libc under the root: no manylinux tags.
				if strings.Contains(h.Python.Tags[0], "manylinux") {
					t.Errorf("first tag %s", h.Python.Tags[0])
				}
			},
		},
		{
			name: "real machine, no NVIDIA driver",
			opts: []Option{},
			check: func(t *testing.T, h *abi.Host) {
				if h.CUDA != nil {
					t.Skip("this machine has an NVIDIA driver")
				}
				if !strings.Contains(h.Reasons[DimCUDA], "libnvidia-ml.so.1 not found") {
					t.Errorf("cuda reason %q", h.Reasons[DimCUDA])
				}
				if h.Libc == nil || h.Libc.Version != confstrGlibc(t) {
					t.Errorf("libc %+v", h.Libc)
				}
				want := "-manylinux_" + strings.ReplaceAll(h.Libc.Version, ".", "_") + "_" + hostArch
				if !strings.HasSuffix(h.Python.Tags[0], want) {
					t.Errorf("first tag %s, want suffix %s", h.Python.Tags[0], want)
				}
				if len(h.Libraries) == 0 {
					t.Error("no libraries listed")
				}
			},
		},
		{
			name: "CUDA_VISIBLE_DEVICES selects devices",
			env:  map[string]string{"CUDA_VISIBLE_DEVICES": "3,1"},
			opts: []Option{WithNVML(dgxa100.New()), WithRoot(t.TempDir())},
			check: func(t *testing.T, h *abi.Host) {
				if h.VisibleDevices == nil || *h.VisibleDevices != "3,1" {
					t.Errorf("visible %v", h.VisibleDevices)
				}
				if len(h.CUDA.Devices) != 2 || h.CUDA.Devices[0].Index != 3 || h.CUDA.Devices[1].Index != 1 {
					t.Errorf("devices %+v", h.CUDA.Devices)
				}
			},
		},
		{
			name: "CUDA_VISIBLE_DEVICES empty hides all",
			env:  map[string]string{"CUDA_VISIBLE_DEVICES": ""},
			opts: []Option{WithNVML(dgxa100.New()), WithRoot(t.TempDir())},
			check: func(t *testing.T, h *abi.Host) {
				if h.CUDA == nil || len(h.CUDA.Devices) != 0 || h.VisibleDevices == nil || *h.VisibleDevices != "" {
					t.Errorf("cuda %+v visible %v", h.CUDA, h.VisibleDevices)
				}
			},
		},
		{
			name: "overrides",
			env: map[string]string{
				EnvOverrideGlibc: "2.17", EnvOverrideCUDA: "12.2", EnvOverrideDriver: "535.54.03",
				EnvOverrideGPUs: "8.0,7.0", EnvOverrideX86Level: "2",
			},
			opts: []Option{WithNVML(dgxa100.New())},
			check: func(t *testing.T, h *abi.Host) {
				if h.Libc.Version != "2.17" || !strings.Contains(h.Reasons[DimLibc], "FORGE_OVERRIDE_GLIBC=2.17") {
					t.Errorf("libc %+v %q", h.Libc, h.Reasons[DimLibc])
				}
				if h.CPU.X86_64Level != 2 || h.Reasons[DimCPU] == "" {
					t.Errorf("cpu level %d %q", h.CPU.X86_64Level, h.Reasons[DimCPU])
				}
				c := h.CUDA
				if c.CUDAVersion != "12.2" || c.DriverVersion != "535.54.03" || len(c.Devices) != 2 || c.Devices[1].ComputeCapability != "7.0" {
					t.Errorf("cuda %+v", c)
				}
				if r := h.Reasons[DimCUDA]; !strings.Contains(r, "FORGE_OVERRIDE_CUDA=12.2") || !strings.Contains(r, "FORGE_OVERRIDE_GPUS") {
					t.Errorf("cuda reason %q", r)
				}
				if h.Python.Tags[0] != "cp"+strings.TrimPrefix(h.Python.ABI, "cp")+"-"+h.Python.ABI+"-manylinux_2_17_"+hostArch {
					t.Errorf("first tag %s under glibc override", h.Python.Tags[0])
				}
			},
		},
		{
			// The override stands for the machine's devices; CUDA_VISIBLE_DEVICES
			// narrows them as it narrows NVML's (it was ignored).
			name: "CUDA_VISIBLE_DEVICES narrows FORGE_OVERRIDE_GPUS",
			env:  map[string]string{EnvOverrideGPUs: "8.0,7.0", EnvCUDAVisibleDevices: "1"},
			opts: []Option{WithNVML(dgxa100.New()), WithRoot(t.TempDir())},
			check: func(t *testing.T, h *abi.Host) {
				if h.VisibleDevices == nil || *h.VisibleDevices != "1" {
					t.Errorf("visible %v", h.VisibleDevices)
				}
				if len(h.CUDA.Devices) != 1 || h.CUDA.Devices[0].Index != 1 || h.CUDA.Devices[0].ComputeCapability != "7.0" {
					t.Errorf("devices %+v, want only override device 1 (sm 7.0)", h.CUDA.Devices)
				}
			},
		},
		{
			name: "CUDA_VISIBLE_DEVICES=0 with FORGE_OVERRIDE_GPUS and no driver",
			env:  map[string]string{EnvOverrideGPUs: "8.0,7.0", EnvCUDAVisibleDevices: "0"},
			opts: []Option{WithRoot(t.TempDir())}, // no libnvidia-ml under the root
			check: func(t *testing.T, h *abi.Host) {
				if len(h.CUDA.Devices) != 1 || h.CUDA.Devices[0].ComputeCapability != "8.0" {
					t.Errorf("devices %+v, want only override device 0 (sm 8.0)", h.CUDA.Devices)
				}
			},
		},
		{
			name: "FORGE_OVERRIDE_CUDA set but empty removes the GPU",
			env:  map[string]string{EnvOverrideCUDA: ""},
			opts: []Option{WithNVML(dgxa100.New()), WithRoot(t.TempDir())},
			check: func(t *testing.T, h *abi.Host) {
				if h.CUDA != nil || !strings.Contains(h.Reasons[DimCUDA], "FORGE_OVERRIDE_CUDA") {
					t.Errorf("cuda %+v reason %q", h.CUDA, h.Reasons[DimCUDA])
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := tt.env
			if env == nil {
				env = map[string]string{}
			}
			opts := append([]Option{WithPython(py), WithCacheDir(cache), WithEnv(envOf(env))}, tt.opts...)
			h, err := Host(opts...)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, h)
			// Every profile Host makes survives a save and load unchanged.
			p := filepath.Join(t.TempDir(), "h.json")
			if err := SaveProfile(p, h); err != nil {
				t.Fatal(err)
			}
			back, err := LoadProfile(p)
			if err != nil {
				t.Fatal(err)
			}
			back.Name = h.Name
			a, _ := json.Marshal(h)
			b, _ := json.Marshal(back)
			if string(a) != string(b) {
				t.Errorf("round trip changed the profile:\n%s\n%s", a, b)
			}
		})
	}
}

func TestHostPython(t *testing.T) {
	t.Run("named interpreter missing is an error", func(t *testing.T) {
		_, err := Host(WithPython(filepath.Join(t.TempDir(), "nope", "python3")), WithRoot(t.TempDir()), WithNVML(dgxa100.New()))
		if err == nil || !strings.Contains(err.Error(), "nope") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("no python3 on PATH is a reason", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		h, err := Host(WithRoot(t.TempDir()), WithNVML(dgxa100.New()))
		if err != nil {
			t.Fatal(err)
		}
		if h.Python != nil || !strings.Contains(h.Reasons[DimPython], "python3") {
			t.Errorf("python %+v reason %q", h.Python, h.Reasons[DimPython])
		}
	})
}

func TestHostRejectsBadOverrides(t *testing.T) {
	for _, env := range []map[string]string{
		{EnvOverrideGlibc: "new"},
		{EnvOverrideX86Level: "5"},
		{EnvOverrideCUDA: "twelve"},
		{EnvOverrideGPUs: "8.0,sm_70"},
	} {
		for k, v := range env {
			t.Run(k, func(t *testing.T) {
				_, err := Host(WithEnv(envOf(env)), WithRoot(t.TempDir()), WithNVML(dgxa100.New()))
				if err == nil || !strings.Contains(err.Error(), k) || !strings.Contains(err.Error(), v) {
					t.Errorf("err %v, want one naming %s=%s", err, k, v)
				}
			})
		}
	}
}

func TestLoadProfile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, body string
		err        string
		check      func(t *testing.T, h *abi.Host)
	}{
		{
			name: "a100-driver535.json",
			body: `{"schema":"forge.host/v1","os":"linux","arch":"x86_64",
				"libc":{"family":"glibc","version":"2.31"},
				"python":{"implementation":"cp","version":"3.11.7","abi":"cp311"},
				"cuda":{"driver_version":"535.104.05","cuda_version":"12.2","devices":[{"index":0,"compute_capability":"8.0"}]},
				"future_field":{"x":1}}`,
			check: func(t *testing.T, h *abi.Host) {
				if h.Name != "a100-driver535" {
					t.Errorf("name %q", h.Name)
				}
				if h.Python.Tags[0] != "cp311-cp311-manylinux_2_31_x86_64" || !slices.Contains(h.Python.Tags, "cp311-none-any") {
					t.Errorf("derived tags start %v", h.Python.Tags[:2])
				}
				if h.CUDA.Devices[0].ComputeCapability != "8.0" {
					t.Errorf("cuda %+v", h.CUDA)
				}
			},
		},
		{
			name: "tags kept.json",
			body: `{"schema":"forge.host/v1","name":"given","os":"linux","arch":"aarch64","python":{"implementation":"cp","version":"3.12.1","tags":["cp312-cp312-linux_aarch64"]}}`,
			check: func(t *testing.T, h *abi.Host) {
				if h.Name != "given" || len(h.Python.Tags) != 1 {
					t.Errorf("got %q %v", h.Name, h.Python.Tags)
				}
			},
		},
		{name: "wrong schema.json", body: `{"schema":"forge.host/v2"}`, err: `field "schema" is "forge.host/v2", want "forge.host/v1"`},
		{name: "no schema.json", body: `{"os":"linux"}`, err: `field "schema" missing`},
		{name: "not json.json", body: `{"schema":`, err: "invalid host profile"},
		{name: "bad python.json", body: `{"schema":"forge.host/v1","python":{"implementation":"cp","version":"x"}}`, err: "python.version"},
		{name: "bogus libc.json", body: `{"schema":"forge.host/v1","libc":{"family":"bogus"}}`, err: `field "libc.family": "bogus", want glibc or musl`},
		{name: "bad cc.json", body: `{"schema":"forge.host/v1","cuda":{"driver_version":"535.104.05","devices":[{"index":0,"compute_capability":"eight"}]}}`, err: `cuda.devices[0].compute_capability`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := LoadProfile(write(tt.name, tt.body))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), tt.name) {
					t.Fatalf("err %v, want one naming the file and %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, h)
		})
	}
	if _, err := LoadProfile(filepath.Join(dir, "missing.json")); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzParseProfile(f *testing.F) {
	f.Add([]byte(`{"schema":"forge.host/v1","arch":"x86_64","libc":{"family":"glibc","version":"2.31"},"python":{"implementation":"cp","version":"3.11.7"}}`))
	f.Add([]byte(`{"schema":"forge.host/v1","python":{"implementation":"pp","version":"3.9","abi":"pypy39_pp73"},"libc":{"family":"musl","version":"1.2.4"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 4096 {
			return
		}
		var probe abi.Host
		if json.Unmarshal(b, &probe) == nil && probe.Libc != nil {
			if m, _, ok := majorMinor(probe.Libc.Version); ok && m > 5 {
				return // glibc 6+ would list thousands of tags
			}
		}
		h, err := ParseProfile(b, "fuzz.json")
		if err == nil && h.Schema != abi.HostSchema {
			t.Fatalf("accepted schema %q", h.Schema)
		}
	})
}
