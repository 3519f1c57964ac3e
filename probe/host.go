package probe

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/cpuid/v2"

	"github.com/forge-ml/forge/abi"
)

// Reason keys of Host.Reasons, one per dimension.
const (
	DimLibc      = "libc"
	DimLibstdcxx = "libstdcxx"
	DimCPU       = "cpu"
	DimPython    = "python"
	DimCUDA      = "cuda"
)

// Override variables: each replaces one probed value, and the replacement is
// recorded in Host.Reasons.
const (
	EnvOverrideGlibc      = "FORGE_OVERRIDE_GLIBC"        // "2.17"
	EnvOverrideCUDA       = "FORGE_OVERRIDE_CUDA"         // "12.2"; set but empty: no NVIDIA driver
	EnvOverrideDriver     = "FORGE_OVERRIDE_DRIVER"       // "535.104.05"
	EnvOverrideGPUs       = "FORGE_OVERRIDE_GPUS"         // "8.0,7.0": one device per capability
	EnvOverrideX86Level   = "FORGE_OVERRIDE_X86_64_LEVEL" // "2"
	EnvCUDAVisibleDevices = "CUDA_VISIBLE_DEVICES"
)

// HostArch is forge's name ("x86_64", "aarch64") for a Go GOARCH
// (abi.ArchOfGOARCH).
func HostArch(goarch string) string { return abi.ArchOfGOARCH(goarch) }

// Host probes the machine and returns its forge.host/v1 profile. A dimension
// that cannot be probed is left out (nil) with the reason in
// Reasons[dimension]; Host fails only when an option is invalid (a bad
// override, an interpreter named by WithPython that cannot be run). NVML is
// asked afresh on every call; interpreter facts, the C library, libstdc++
// and the library list come from the cache when WithCacheDir is given and
// the files they were read from are unchanged. Host is safe to call concurrently.
func Host(opts ...Option) (*abi.Host, error) {
	cfg := newConfig(opts)
	arch := HostArch(runtime.GOARCH)
	h := &abi.Host{
		Schema:  abi.HostSchema,
		OS:      runtime.GOOS,
		Arch:    arch,
		Reasons: map[string]string{},
	}

	info := cfg.cpu
	if info == nil {
		c := cpuid.CPU
		info = &c
	}
	h.CPU = cpuOf(info, arch)

	h.Libc, h.Libraries = probeLibs(cfg, arch, h.Reasons)

	if err := applyHostOverrides(h, cfg.env); err != nil {
		return nil, err
	}

	py, err := probePython(cfg, h)
	if err != nil {
		return nil, err
	}
	h.Python = py

	lib, reason := cfg.nvml, ""
	if lib == nil {
		lib, reason = newNVML(cfg.root, arch)
	}
	if lib != nil {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.timeoutOr(10*time.Second))
		h.CUDA, reason = probeCUDA(ctx, lib)
		cancel()
	}
	if reason != "" {
		h.Reasons[DimCUDA] = reason
	}
	if err := applyCUDAOverrides(h, cfg.env); err != nil {
		return nil, err
	}
	// After the overrides: FORGE_OVERRIDE_GPUS stands for the machine's
	// devices, which CUDA_VISIBLE_DEVICES then narrows as it would NVML's.
	if v, ok := cfg.env(EnvCUDAVisibleDevices); ok {
		h.VisibleDevices = &v
		if h.CUDA != nil {
			h.CUDA.Devices = VisibleGPUs(h.CUDA.Devices, &v)
		}
	}
	if len(h.Reasons) == 0 {
		h.Reasons = nil
	}
	return h, nil
}

// probePython describes the interpreter WithPython names (an error when it
// cannot) or python3 on PATH (a reason when there is none).
func probePython(cfg config, h *abi.Host) (*abi.Python, error) {
	exe, err := FindPython(cfg.python)
	if err == nil {
		var iopts []Option
		if cfg.cacheDir != "" {
			iopts = append(iopts, WithCacheDir(cfg.cacheDir))
		}
		if cfg.timeout > 0 {
			iopts = append(iopts, WithTimeout(cfg.timeout))
		}
		var in *Interp
		if in, err = Interpreter(exe, iopts...); err == nil {
			return PythonOf(in, h.Libc), nil
		}
	}
	if cfg.python != "" {
		return nil, err
	}
	h.Reasons[DimPython] = err.Error()
	return nil, nil
}

// PythonOf is the python section of a host profile for an interpreter
// running on a host with the C library lc (nil: unknown, no manylinux tags).
func PythonOf(in *Interp, lc *abi.Libc) *abi.Python {
	glibc := ""
	if lc != nil && lc.Family == "glibc" {
		glibc = lc.Version
	}
	ti := InputsOf(in, glibc)
	if lc != nil && lc.Family != "musl" {
		ti.Musl = ""
	}
	py := &abi.Python{Implementation: in.Implementation, Version: in.Version}
	if in.Implementation == "cp" {
		py.ABI = cpythonABIs(ti)[0]
	} else if gen := genericTags(ti, []string{"x"}); len(gen) > 1 {
		py.ABI = strings.Split(gen[0], "-")[1]
	}
	py.Tags = Tags(ti)
	return py
}

func applyHostOverrides(h *abi.Host, env func(string) (string, bool)) error {
	if v, ok := env(EnvOverrideGlibc); ok && v != "" {
		if _, _, ok := majorMinor(v); !ok {
			return fmt.Errorf("%s=%q: want a glibc version such as 2.17", EnvOverrideGlibc, v)
		}
		lc := &abi.Libc{Family: "glibc", Version: v}
		if h.Libc != nil && h.Libc.Family == "glibc" {
			lc.Libstdcxx = h.Libc.Libstdcxx
		}
		h.Libc = lc
		h.Reasons[DimLibc] = "override " + EnvOverrideGlibc + "=" + v
	}
	if v, ok := env(EnvOverrideX86Level); ok && v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 4 {
			return fmt.Errorf("%s=%q: want 1, 2, 3 or 4", EnvOverrideX86Level, v)
		}
		if h.CPU == nil {
			h.CPU = &abi.CPU{}
		}
		h.CPU.X86_64Level = n
		h.Reasons[DimCPU] = "override " + EnvOverrideX86Level + "=" + v
	}
	return nil
}

func applyCUDAOverrides(h *abi.Host, env func(string) (string, bool)) error {
	cuda, cudaSet := env(EnvOverrideCUDA)
	if cudaSet && cuda == "" {
		h.CUDA = nil
		h.Reasons[DimCUDA] = "override " + EnvOverrideCUDA + "= (no NVIDIA driver)"
		return nil
	}
	driver, driverSet := env(EnvOverrideDriver)
	gpus, gpusSet := env(EnvOverrideGPUs)
	if !(cudaSet || (driverSet && driver != "") || (gpusSet && gpus != "")) {
		return nil
	}
	if h.CUDA == nil {
		h.CUDA = &abi.CUDA{Devices: []abi.GPU{}}
	}
	var said []string
	if cudaSet {
		if _, _, ok := majorMinor(cuda); !ok {
			return fmt.Errorf("%s=%q: want a CUDA version such as 12.2, or empty for none", EnvOverrideCUDA, cuda)
		}
		h.CUDA.CUDAVersion = cuda
		said = append(said, EnvOverrideCUDA+"="+cuda)
	}
	if driverSet && driver != "" {
		h.CUDA.DriverVersion = driver
		said = append(said, EnvOverrideDriver+"="+driver)
	}
	if gpusSet && gpus != "" {
		devs := []abi.GPU{}
		for i, cc := range strings.Split(gpus, ",") {
			cc = strings.TrimSpace(cc)
			if _, _, ok := majorMinor(cc); !ok {
				return fmt.Errorf("%s=%q: want compute capabilities such as 8.0,7.0", EnvOverrideGPUs, gpus)
			}
			devs = append(devs, abi.GPU{Index: i, Name: "override", ComputeCapability: cc})
		}
		h.CUDA.Devices = devs
		said = append(said, EnvOverrideGPUs+"="+gpus)
	}
	h.Reasons[DimCUDA] = "override " + strings.Join(said, " ")
	return nil
}
