// Package probe detects the host forge runs on and fills an abi.Host: libc
// family and version, libstdc++, CPU vendor, flags and x86-64 level, Python
// interpreters (version, ABI, supported wheel tags), the NVIDIA driver, CUDA
// version and GPUs (through go-nvml), and which GPUs CUDA_VISIBLE_DEVICES
// leaves visible. It also loads and saves host profiles (LoadProfile,
// SaveProfile) and caches a probed host (hostcache.go).
//
// Every source is injectable (options.go: WithNVML, WithRoot, WithEnv,
// WithCPU, WithPython, WithTimeout), and every value it cannot find comes
// with a reason in Host.Reasons instead of an error; FORGE_OVERRIDE_*
// variables replace single values and say so there.
//
// It does not judge: whether a wheel runs on the host is package abi's
// question, and probe imports abi only for the Host type and its helpers.
// It knows nothing of the store, environments or versions to install.
package probe
