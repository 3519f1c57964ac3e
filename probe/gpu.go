package probe

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/forge-ml/forge/abi"
)

// nvmlLibrary is the soname the NVIDIA driver installs.
const nvmlLibrary = "libnvidia-ml.so.1"

// newNVML returns the real NVML for the probe root: the loader's own search
// for the live system, the library under root otherwise (never a host
// library for a foreign root). ok is false, with a reason, when there is
// nothing to load.
func newNVML(root, arch string) (lib nvml.Interface, reason string) {
	if root == "" || root == "/" {
		return nvml.New(), ""
	}
	p, ok := findLib(root, arch, nvmlLibrary)
	if !ok {
		return nil, nvmlLibrary + " not found under " + root
	}
	return nvml.New(nvml.WithLibraryPath(p)), ""
}

// probeCUDA asks NVML for the driver and its devices, within ctx's deadline.
// NVML runs in its own goroutine so that a hung driver cannot hang forge; a
// call that never returns leaves that goroutine behind (NVML calls cannot be
// cancelled). Panics (a broken library, an incomplete mock) are recovered.
// Every successful Init is paired with Shutdown.
func probeCUDA(ctx context.Context, lib nvml.Interface) (*abi.CUDA, string) {
	type result struct {
		cuda   *abi.CUDA
		reason string
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- result{reason: fmt.Sprintf("NVML panicked: %v", r)}
			}
		}()
		c, reason := readNVML(lib)
		done <- result{c, reason}
	}()
	select {
	case r := <-done:
		return r.cuda, r.reason
	case <-ctx.Done():
		return nil, fmt.Sprintf("NVML did not answer in time (%v)", ctx.Err())
	}
}

func nvmlErr(call string, ret nvml.Return) string {
	return fmt.Sprintf("%s: %s", call, ret.Error())
}

func readNVML(lib nvml.Interface) (*abi.CUDA, string) {
	if ret := lib.Init(); ret != nvml.SUCCESS {
		if ret == nvml.ERROR_LIBRARY_NOT_FOUND {
			return nil, nvmlLibrary + " not found (no NVIDIA driver)"
		}
		return nil, nvmlErr("nvmlInit", ret)
	}
	defer lib.Shutdown()

	driver, ret := lib.SystemGetDriverVersion()
	if ret != nvml.SUCCESS {
		return nil, nvmlErr("nvmlSystemGetDriverVersion", ret)
	}
	cv, reason := cudaDriverVersion(lib)
	if reason != "" {
		return nil, reason
	}
	out := &abi.CUDA{DriverVersion: driver, CUDAVersion: FormatCUDAVersion(cv), Devices: []abi.GPU{}}
	n, ret := lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, nvmlErr("nvmlDeviceGetCount", ret)
	}
	var skipped []string
	for i := 0; i < n; i++ {
		g, why := readDevice(lib, i)
		if why != "" {
			skipped = append(skipped, fmt.Sprintf("device %d: %s", i, why))
			continue
		}
		out.Devices = append(out.Devices, g)
	}
	if len(skipped) > 0 {
		return out, "skipped " + strings.Join(skipped, "; ")
	}
	return out, ""
}

// cudaDriverVersion prefers nvmlSystemGetCudaDriverVersion_v2 and falls back
// to the original call when the library lacks the symbol or the call fails
// (mocks that do not implement it panic; that is recovered here).
func cudaDriverVersion(lib nvml.Interface) (int, string) {
	if v, ok := cudaDriverVersionV2(lib); ok {
		return v, ""
	}
	v, ret := lib.SystemGetCudaDriverVersion()
	if ret != nvml.SUCCESS {
		return 0, nvmlErr("nvmlSystemGetCudaDriverVersion", ret)
	}
	return v, ""
}

func cudaDriverVersionV2(lib nvml.Interface) (v int, ok bool) {
	defer func() {
		if recover() != nil {
			v, ok = 0, false
		}
	}()
	if ext := lib.Extensions(); ext != nil {
		if ext.LookupSymbol("nvmlSystemGetCudaDriverVersion_v2") != nil {
			return 0, false
		}
	}
	v, ret := lib.SystemGetCudaDriverVersion_v2()
	return v, ret == nvml.SUCCESS
}

// FormatCUDAVersion turns NVML's integer CUDA version into "major.minor":
// 12020 is "12.2", 11080 is "11.8".
func FormatCUDAVersion(v int) string {
	return fmt.Sprintf("%d.%d", v/1000, (v%1000)/10)
}

func readDevice(lib nvml.Interface, i int) (abi.GPU, string) {
	d, ret := lib.DeviceGetHandleByIndex(i)
	if ret != nvml.SUCCESS {
		return abi.GPU{}, nvmlErr("nvmlDeviceGetHandleByIndex", ret)
	}
	major, minor, ret := d.GetCudaComputeCapability()
	if ret != nvml.SUCCESS {
		return abi.GPU{}, nvmlErr("nvmlDeviceGetCudaComputeCapability", ret)
	}
	g := abi.GPU{Index: i, ComputeCapability: fmt.Sprintf("%d.%d", major, minor)}
	if uuid, ret := d.GetUUID(); ret == nvml.SUCCESS {
		g.UUID = uuid
	}
	if name, ret := d.GetName(); ret == nvml.SUCCESS {
		g.Name = name
	}
	if mem, ret := d.GetMemoryInfo(); ret == nvml.SUCCESS {
		g.MemoryMiB = mem.Total / (1 << 20)
	}
	g.MIG = migEnabled(d)
	return g, ""
}

// migEnabled is false when the device cannot say (pre-Ampere GPUs answer
// NOT_SUPPORTED; mocks may not implement the call).
func migEnabled(d nvml.Device) (on bool) {
	defer func() {
		if recover() != nil {
			on = false
		}
	}()
	cur, _, ret := d.GetMigMode()
	return ret == nvml.SUCCESS && cur == nvml.DEVICE_MIG_ENABLE
}

// VisibleGPUs applies CUDA_VISIBLE_DEVICES to devs as the CUDA runtime does:
// nil spec (unset) leaves every device; otherwise a comma-separated list of
// indexes, UUIDs or unique UUID prefixes ("GPU-8932", with or without the
// "GPU-") selects devices in the order given; the list stops at the first
// entry that names no device, or one named twice; an empty spec hides all.
// Devices keep their NVML index, so applying the same spec again to the
// result gives the same devices.
func VisibleGPUs(devs []abi.GPU, spec *string) []abi.GPU {
	if spec == nil {
		return devs
	}
	out := []abi.GPU{}
	used := map[int]bool{}
	for _, raw := range strings.Split(*spec, ",") {
		e := strings.TrimSpace(raw)
		k := matchDevice(devs, e)
		if k < 0 || used[k] {
			break
		}
		used[k] = true
		out = append(out, devs[k])
	}
	return out
}

func matchDevice(devs []abi.GPU, e string) int {
	if e == "" {
		return -1
	}
	if n, err := strconv.Atoi(e); err == nil {
		for k, d := range devs {
			if d.Index == n {
				return k
			}
		}
		return -1
	}
	want := strings.ToLower(e)
	if !strings.HasPrefix(want, "gpu-") && !strings.HasPrefix(want, "mig-") {
		want = "gpu-" + want
	}
	found := -1
	for k, d := range devs {
		if strings.HasPrefix(strings.ToLower(d.UUID), want) {
			if found >= 0 {
				return -1 // ambiguous prefix
			}
			found = k
		}
	}
	return found
}
