package probe

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/gpus"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"github.com/forge-ml/forge/abi"
)

// mixedServer is a V100-less stand-in for a mixed box: an A100 and an H100.
func mixedServer(t *testing.T) *server.Server {
	t.Helper()
	s, err := server.New(
		server.WithGPUs(gpus.A100_SXM4_80GB, gpus.H100_SXM5_80GB),
		server.WithDriverVersion("535.104.05"),
		server.WithCUDADriverVersion(12020),
	)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestProbeCUDA(t *testing.T) {
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })

	tests := []struct {
		name    string
		lib     func(t *testing.T) nvml.Interface
		timeout time.Duration
		check   func(t *testing.T, c *abi.CUDA)
		reason  string // substring; "" means none
	}{
		{
			name: "dgxa100",
			lib:  func(t *testing.T) nvml.Interface { return dgxa100.New() },
			check: func(t *testing.T, c *abi.CUDA) {
				if c.DriverVersion != "550.54.15" || c.CUDAVersion != "12.4" {
					t.Errorf("driver %q cuda %q", c.DriverVersion, c.CUDAVersion)
				}
				if len(c.Devices) != 8 {
					t.Fatalf("%d devices, want 8", len(c.Devices))
				}
				for i, d := range c.Devices {
					if d.Index != i || d.ComputeCapability != "8.0" || d.MemoryMiB != 40960 || !strings.HasPrefix(d.UUID, "GPU-") || !strings.Contains(d.Name, "A100") || d.MIG {
						t.Errorf("device %d = %+v", i, d)
					}
				}
			},
		},
		{
			name: "mixed A100 and H100, CUDA 12.2",
			lib:  func(t *testing.T) nvml.Interface { return mixedServer(t) },
			check: func(t *testing.T, c *abi.CUDA) {
				if c.CUDAVersion != "12.2" || c.DriverVersion != "535.104.05" {
					t.Errorf("got %+v", c)
				}
				var ccs []string
				for _, d := range c.Devices {
					ccs = append(ccs, d.ComputeCapability)
				}
				if strings.Join(ccs, ",") != "8.0,9.0" {
					t.Errorf("capabilities %v", ccs)
				}
			},
		},
		{
			name: "MIG enabled",
			lib: func(t *testing.T) nvml.Interface {
				s := dgxa100.New()
				s.Devices[1].(*server.Device).SetMigMode(nvml.DEVICE_MIG_ENABLE)
				return s
			},
			check: func(t *testing.T, c *abi.CUDA) {
				if c.Devices[0].MIG || !c.Devices[1].MIG {
					t.Errorf("MIG flags %v %v", c.Devices[0].MIG, c.Devices[1].MIG)
				}
			},
		},
		{
			name: "v2 CUDA version preferred when present",
			lib: func(t *testing.T) nvml.Interface {
				s := dgxa100.New()
				s.SystemGetCudaDriverVersion_v2Func = func() (int, nvml.Return) { return 13000, nvml.SUCCESS }
				return s
			},
			check: func(t *testing.T, c *abi.CUDA) {
				if c.CUDAVersion != "13.0" {
					t.Errorf("cuda %q, want 13.0", c.CUDAVersion)
				}
			},
		},
		{
			name: "driver not loaded",
			lib: func(t *testing.T) nvml.Interface {
				return &mock.Interface{InitFunc: func() nvml.Return { return nvml.ERROR_DRIVER_NOT_LOADED }}
			},
			reason: "nvmlInit: ",
		},
		{
			name: "library missing",
			lib: func(t *testing.T) nvml.Interface {
				return &mock.Interface{InitFunc: func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND }}
			},
			reason: "libnvidia-ml.so.1 not found",
		},
		{
			name: "device count fails",
			lib: func(t *testing.T) nvml.Interface {
				s := dgxa100.New()
				s.DeviceGetCountFunc = func() (int, nvml.Return) { return 0, nvml.ERROR_UNKNOWN }
				return s
			},
			reason: "nvmlDeviceGetCount",
		},
		{
			name: "one device unreadable is skipped, with a reason",
			lib: func(t *testing.T) nvml.Interface {
				s := dgxa100.New()
				s.Devices[3].(*server.Device).GetCudaComputeCapabilityFunc = func() (int, int, nvml.Return) { return 0, 0, nvml.ERROR_GPU_IS_LOST }
				return s
			},
			check: func(t *testing.T, c *abi.CUDA) {
				if len(c.Devices) != 7 || c.Devices[3].Index != 4 {
					t.Errorf("devices %+v", c.Devices)
				}
			},
			reason: "device 3: nvmlDeviceGetCudaComputeCapability",
		},
		{
			name: "panicking library",
			lib: func(t *testing.T) nvml.Interface {
				return &mock.Interface{InitFunc: func() nvml.Return { panic("segfault in disguise") }}
			},
			reason: "NVML panicked: segfault in disguise",
		},
		{
			name: "mock without driver calls panics and is recovered",
			lib: func(t *testing.T) nvml.Interface {
				return &mock.Interface{InitFunc: func() nvml.Return { return nvml.SUCCESS }, ShutdownFunc: func() nvml.Return { return nvml.SUCCESS }}
			},
			reason: "NVML panicked",
		},
		{
			name: "hanging library times out",
			lib: func(t *testing.T) nvml.Interface {
				return &mock.Interface{InitFunc: func() nvml.Return { <-hang; return nvml.ERROR_TIMEOUT }}
			},
			timeout: 50 * time.Millisecond,
			reason:  "NVML did not answer in time",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			lib := tt.lib(t)
			c, reason := probeCUDA(ctx, lib)
			if tt.reason == "" && reason != "" || !strings.Contains(reason, tt.reason) {
				t.Errorf("reason %q, want %q", reason, tt.reason)
			}
			if tt.check != nil {
				if c == nil {
					t.Fatalf("no cuda section (%s)", reason)
				}
				tt.check(t, c)
			} else if c != nil {
				t.Errorf("got %+v, want no cuda section", c)
			}
			if m, ok := lib.(interface {
				InitCalls() []struct{}
				ShutdownCalls() []struct{}
			}); ok && tt.timeout == 0 && !strings.Contains(reason, "panicked: segfault") {
				init, shut := len(m.InitCalls()), len(m.ShutdownCalls())
				if c != nil && (init != 1 || shut != 1) {
					t.Errorf("Init called %d times, Shutdown %d; want 1 and 1", init, shut)
				}
			}
		})
	}
}

func TestProbeCUDARealLibrary(t *testing.T) {
	lib, reason := newNVML("/", hostArch)
	if reason != "" {
		t.Fatalf("newNVML(/): %s", reason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, reason := probeCUDA(ctx, lib)
	if c != nil {
		t.Skipf("this machine has an NVIDIA driver (%s, CUDA %s): nothing to test for its absence", c.DriverVersion, c.CUDAVersion)
	}
	if !strings.Contains(reason, "libnvidia-ml.so.1 not found") {
		t.Errorf("reason %q", reason)
	}
}

func TestNewNVMLUnderForeignRoot(t *testing.T) {
	lib, reason := newNVML(t.TempDir(), hostArch)
	if lib != nil || !strings.Contains(reason, "libnvidia-ml.so.1 not found under") {
		t.Errorf("lib %v reason %q", lib, reason)
	}
}

func TestFormatCUDAVersion(t *testing.T) {
	for in, want := range map[int]string{12020: "12.2", 11080: "11.8", 13000: "13.0", 12090: "12.9", 10010: "10.1"} {
		if got := FormatCUDAVersion(in); got != want {
			t.Errorf("FormatCUDAVersion(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestVisibleGPUs(t *testing.T) {
	devs := []abi.GPU{
		{Index: 0, UUID: "GPU-aaaa1111-0000"},
		{Index: 1, UUID: "GPU-bbbb2222-0000"},
		{Index: 2, UUID: "GPU-bbbb3333-0000"},
	}
	str := func(s string) *string { return &s }
	for _, tt := range []struct {
		name string
		spec *string
		want string
	}{
		{"unset: all", nil, "0,1,2"},
		{"empty: none", str(""), ""},
		{"indexes in order given", str("2,0"), "2,0"},
		{"full UUID", str("GPU-bbbb2222-0000"), "1"},
		{"UUID prefix without GPU-", str("aaaa"), "0"},
		{"ambiguous prefix stops the list", str("0,bbbb,1"), "0"},
		{"invalid entry stops the list", str("1,7,0"), "1"},
		{"repeat stops the list", str("1,1,0"), "1"},
		{"spaces", str(" 1 , 2"), "1,2"},
		{"-1 hides all", str("-1"), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := VisibleGPUs(devs, tt.spec)
			var idx []string
			for _, d := range got {
				idx = append(idx, string(rune('0'+d.Index)))
			}
			if strings.Join(idx, ",") != tt.want {
				t.Errorf("got %v, want %s", idx, tt.want)
			}
			// Idempotent: the result filtered again by the same spec is itself.
			again := VisibleGPUs(got, tt.spec)
			if len(again) != len(got) {
				t.Errorf("not idempotent: %v then %v", got, again)
			}
		})
	}
}
