package workspace

import (
	"strings"

	"github.com/forge-ml/forge/probe"
	"github.com/forge-ml/forge/resolver"
	"golang.org/x/sys/unix"
)

// Uname is the part of uname(2) that PEP 508 markers read.
type Uname struct {
	Release string // platform_release
	Version string // platform_version
}

// HostUname asks the kernel; an error leaves both values empty, which
// markers read as "".
func HostUname() Uname {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return Uname{}
	}
	return Uname{Release: unix.ByteSliceToString(u.Release[:]), Version: unix.ByteSliceToString(u.Version[:])}
}

// MarkerEnvFor is the PEP 508 marker environment of an interpreter: the
// values packaging's default_environment() gives when run by it, from the
// interpreter's cached facts and the kernel's uname. It fills every name in
// resolver.MarkerVariables.
func MarkerEnvFor(py *probe.Interp, u Uname) resolver.MarkerEnv {
	sysPlatform, system := "linux", "Linux"
	if strings.HasPrefix(py.Platform, "macosx") {
		sysPlatform, system = "darwin", "Darwin"
	}
	impl := map[string]string{"cpython": "CPython", "pypy": "PyPy", "ironpython": "IronPython", "jython": "Jython"}[py.ImplName]
	if impl == "" {
		impl = py.ImplName
	}
	return resolver.MarkerEnv{Vars: map[string]string{
		"python_version":                 py.XY(),
		"python_full_version":            py.Version,
		"os_name":                        "posix",
		"sys_platform":                   sysPlatform,
		"platform_release":               u.Release,
		"platform_system":                system,
		"platform_version":               u.Version,
		"platform_machine":               py.Machine,
		"platform_python_implementation": impl,
		"implementation_name":            py.ImplName,
		// sys.implementation.version: the language version for CPython;
		// other implementations are not recorded, so this is a best guess.
		"implementation_version": py.Version,
	}}
}
