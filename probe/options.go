package probe

import (
	"os"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/klauspost/cpuid/v2"
)

// Option configures Host and Interpreter: where each probe takes its facts
// from. Options that do not concern a function are ignored by it.
type Option func(*config)

// InterpOption is the option type Interpreter has always taken; it is Option.
type InterpOption = Option

type config struct {
	python   string
	cacheDir string
	timeout  time.Duration
	nvml     nvml.Interface
	env      func(string) (string, bool)
	root     string
	cpu      *cpuid.CPUInfo
}

func newConfig(opts []Option) config {
	c := config{env: os.LookupEnv, root: "/"}
	for _, o := range opts {
		o(&c)
	}
	return c
}

func (c config) timeoutOr(d time.Duration) time.Duration {
	if c.timeout > 0 {
		return c.timeout
	}
	return d
}

// WithPython selects the interpreter Host describes: a path, a name on PATH
// or "X.Y" (see FindPython). Without it, python3 on PATH.
func WithPython(pathOrVersion string) Option { return func(c *config) { c.python = pathOrVersion } }

// WithCacheDir caches interpreter facts under dir (one JSON file per
// executable identity). Without it nothing is cached. NVML is never cached:
// drivers change under a running system.
func WithCacheDir(dir string) Option { return func(c *config) { c.cacheDir = dir } }

// WithTimeout bounds each slow probe: the interpreter call (default 30s) and
// NVML (default 10s).
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithNVML makes Host ask lib instead of loading libnvidia-ml.so.1; tests pass
// go-nvml's mock here. Host calls Init and Shutdown itself.
func WithNVML(lib nvml.Interface) Option { return func(c *config) { c.nvml = lib } }

// WithEnv replaces os.LookupEnv for CUDA_VISIBLE_DEVICES and the
// FORGE_OVERRIDE_* variables.
func WithEnv(lookup func(string) (string, bool)) Option {
	return func(c *config) { c.env = lookup }
}

// WithRoot makes every filesystem lookup (C library, libstdc++, shared
// libraries, libnvidia-ml) happen under dir, as if dir were "/". With a root
// other than "/", the real NVML is loaded only from under that root.
func WithRoot(dir string) Option { return func(c *config) { c.root = dir } }

// WithCPU describes info instead of the processor forge runs on; tests build
// one with cpuid.CPUInfo.Enable.
func WithCPU(info cpuid.CPUInfo) Option { return func(c *config) { c.cpu = &info } }
