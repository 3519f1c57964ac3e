package probe

import (
	"sort"
	"strings"

	"github.com/klauspost/cpuid/v2"

	"github.com/forge-ml/forge/abi"
)

// cpuOf describes a processor as cpuid sees it: vendor, brand, the x86-64
// microarchitecture level (0 when not x86-64) and its feature flags,
// lower-case and sorted.
func cpuOf(c *cpuid.CPUInfo, arch string) *abi.CPU {
	out := &abi.CPU{
		Vendor: c.VendorString,
		Brand:  strings.TrimSpace(c.BrandName),
	}
	if arch == "x86_64" {
		out.X86_64Level = c.X64Level()
	}
	for _, f := range c.FeatureSet() {
		out.Flags = append(out.Flags, strings.ToLower(f))
	}
	sort.Strings(out.Flags)
	return out
}
