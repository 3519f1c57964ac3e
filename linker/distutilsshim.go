package linker

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/forge-ml/forge/wheel"
)

// The distutils shim: Python 3.12 removed distutils from the standard
// library, and setuptools carries its own copy as setuptools._distutils.
// setuptools' distutils-precedence.pth makes that copy importable as
// distutils, but only while its own .pth is processed and
// SETUPTOOLS_USE_DISTUTILS is "local"; with setuptools installed any other
// way (or that variable set to "stdlib") `import distutils` fails on 3.12.
//
// forge's shim is two files of its own in an environment's site-packages: a
// .pth with one import line (an import line, because a path line cannot
// install a finder; PEP 829 deprecates import lines for paths, which this is
// not) and the module it imports. The module appends a finder to the END of
// sys.meta_path, so it is asked only when every other finder (the standard
// library's, setuptools' own) has no distutils; it then loads distutils
// from the _distutils directory of the setuptools the layered sys.path
// finds, without importing setuptools itself. FORGE_DISTUTILS_SHIM=0 in the
// environment of a Python process turns it off for that process.
const (
	DistutilsShimPth    = wheel.ReservedSitePrefix + "distutils.pth"
	DistutilsShimModule = wheel.ReservedSitePrefix + "distutils.py"
	// distutilsShimMarker opens both files: a file of those names without it
	// was not written by forge and is never replaced or removed.
	distutilsShimMarker = "# forge distutils shim:"
)

// ErrNotForgeFile is a file in an environment that has the name of one of
// forge's own files but not forge's marker.
var ErrNotForgeFile = errors.New("file not written by forge")

var distutilsShimFiles = map[string]string{
	DistutilsShimPth: distutilsShimMarker + " written by forge (forge env set ENV distutils_shim off removes it).\n" +
		"import " + wheel.ReservedSitePrefix + "distutils\n",
	DistutilsShimModule: distutilsShimMarker + ` written by forge (forge env set ENV distutils_shim off removes it).
"""Make setuptools' vendored distutils importable as distutils when nothing
else provides it (Python 3.12 removed it from the standard library).
FORGE_DISTUTILS_SHIM=0 turns this off."""
import os
import sys


class ForgeDistutilsFinder:
    """Last on sys.meta_path: reached only when no other finder has distutils."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "distutils" or path is not None:
            return None
        import importlib.util

        try:
            setuptools = importlib.util.find_spec("setuptools")
        except (ImportError, ValueError):
            return None
        if setuptools is None:
            return None
        for d in setuptools.submodule_search_locations or ():
            pkg = os.path.join(d, "_distutils")
            init = os.path.join(pkg, "__init__.py")
            if os.path.isfile(init):
                return importlib.util.spec_from_file_location(
                    "distutils", init, submodule_search_locations=[pkg])
        return None


def install():
    if os.environ.get("FORGE_DISTUTILS_SHIM", "") == "0":
        return
    if not any(type(f).__name__ == "ForgeDistutilsFinder" for f in sys.meta_path):
        sys.meta_path.append(ForgeDistutilsFinder())


install()
`,
}

// WriteDistutilsShim writes the shim's two files into v's site-packages,
// replacing earlier copies of forge's own. A file of either name that forge
// did not write is left alone and the shim refused (ErrNotForgeFile), before
// anything is written.
func WriteDistutilsShim(v Venv) error {
	site := v.SitePackages()
	if err := checkShimFiles(site); err != nil {
		return err
	}
	// The module first: a .pth naming a missing module prints a traceback
	// at every start-up.
	for _, name := range []string{DistutilsShimModule, DistutilsShimPth} {
		if err := writeFileAtomic(filepath.Join(site, name), []byte(distutilsShimFiles[name]), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// RemoveDistutilsShim removes the shim's files that forge wrote from v's
// site-packages and returns their paths; a file of those names that forge
// did not write is kept (ErrNotForgeFile, after the others are removed).
func RemoveDistutilsShim(v Venv) ([]string, error) {
	site := v.SitePackages()
	var removed []string
	var errs []error
	// The .pth first: a module without its .pth is inert.
	for _, name := range []string{DistutilsShimPth, DistutilsShimModule} {
		p := filepath.Join(site, name)
		present, err := forgeShimPresent(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !present {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}

// HasDistutilsShim reports whether v's site-packages has forge's shim .pth.
func HasDistutilsShim(v Venv) bool {
	ours, err := forgeShimFile(filepath.Join(v.SitePackages(), DistutilsShimPth))
	return err == nil && ours
}

func checkShimFiles(site string) error {
	for _, name := range []string{DistutilsShimPth, DistutilsShimModule} {
		if _, err := forgeShimPresent(filepath.Join(site, name)); err != nil {
			return err
		}
	}
	return nil
}

func notForgeFile(p string) error {
	return fmt.Errorf("%s exists and was not written by forge (its first line is not %q): left as it is; move it away to use forge's distutils shim: %w",
		p, distutilsShimMarker+" …", ErrNotForgeFile)
}

// forgeShimPresent reports whether p is a shim file that forge wrote:
// false and no error when nothing is at p, the notForgeFile error when
// something is there that forge did not write.
func forgeShimPresent(p string) (bool, error) {
	ours, err := forgeShimFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !ours {
		return false, notForgeFile(p)
	}
	return true, nil
}

// forgeShimFile reports whether p is a regular file that opens with forge's
// marker. A link is never forge's: forge writes these files itself.
func forgeShimFile(p string) (bool, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return false, err
	}
	if !fi.Mode().IsRegular() {
		return false, nil
	}
	f, err := os.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	head := make([]byte, len(distutilsShimMarker))
	n, _ := io.ReadFull(f, head)
	return bytes.Equal(head[:n], []byte(distutilsShimMarker)), nil
}
