package abi

import (
	"encoding/json"
)

// HostSchema is the schema identifier of a host profile document.
const HostSchema = "forge.host/v1"

// Host describes a machine as the ABI rules see it: the forge.host/v1 host
// profile that `forge probe --json` prints and every --host-profile reads
// (schema HostSchema). A nil section means "absent" (nil CUDA = no NVIDIA
// driver). Unknown top-level fields are kept in Extra and written back.
type Host struct {
	Schema         string   `json:"schema"`
	Name           string   `json:"name,omitempty"`
	OS             string   `json:"os"`
	Arch           string   `json:"arch"`
	Libc           *Libc    `json:"libc,omitempty"`
	CPU            *CPU     `json:"cpu,omitempty"`
	Python         *Python  `json:"python,omitempty"`
	CUDA           *CUDA    `json:"cuda,omitempty"`
	VisibleDevices *string  `json:"visible_devices,omitempty"`
	Libraries      []string `json:"libraries,omitempty"`
	// Reasons says, per dimension ("cuda", "libc", "cpu", ...), why a value is
	// missing or where it came from (an override).
	Reasons map[string]string `json:"reasons,omitempty"`

	Extra map[string]json.RawMessage `json:"-"`
}

// Libc is the C library of a host.
type Libc struct {
	Family    string `json:"family"` // "glibc" or "musl"
	Version   string `json:"version,omitempty"`
	Libstdcxx string `json:"libstdcxx,omitempty"` // highest GLIBCXX_ version, e.g. "3.4.30"
}

// CPU is the processor of a host.
type CPU struct {
	Vendor      string   `json:"vendor,omitempty"`
	Brand       string   `json:"brand,omitempty"`
	X86_64Level int      `json:"x86_64_level,omitempty"`
	Flags       []string `json:"flags,omitempty"`
}

// Python is the interpreter a host profile describes.
type Python struct {
	Implementation string   `json:"implementation"` // "cp", "pp"
	Version        string   `json:"version"`        // "3.11.7"
	ABI            string   `json:"abi,omitempty"`  // "cp311"
	Tags           []string `json:"tags,omitempty"` // ordered as packaging.tags.sys_tags()
}

// CUDA is the NVIDIA driver and its devices.
type CUDA struct {
	DriverVersion string `json:"driver_version"`
	CUDAVersion   string `json:"cuda_version"`
	Devices       []GPU  `json:"devices"`
}

// GPU is one NVIDIA device.
type GPU struct {
	Index             int    `json:"index"`
	UUID              string `json:"uuid,omitempty"`
	Name              string `json:"name,omitempty"`
	ComputeCapability string `json:"compute_capability"`
	MemoryMiB         uint64 `json:"memory_mib,omitempty"`
	MIG               bool   `json:"mig,omitempty"`
}
