package workspace

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/forge-ml/forge/internal/errkind"
	"github.com/forge-ml/forge/wheel"
)

// oneVersionEach refuses (ErrUsage) an install that names two versions of
// one package: a layer holds one version of a name, so all but the last
// would be linked and at once replaced, and the user would not learn which
// won. The same version named twice (the same file, or a store pin and its
// wheel) is kept once, a wheel file rather than a pin: out is specs
// without the repeats. Specs whose name
// cannot be read are kept for the install to report.
func oneVersionEach(specs []string) (out []string, err error) {
	type given struct {
		name, spec, version string
		at                  int // index in out
	}
	first := map[string]given{}
	for _, spec := range specs {
		name, version, ok := specNameVersion(spec)
		if !ok {
			out = append(out, spec)
			continue
		}
		norm := wheel.NormalizeName(name)
		prev, seen := first[norm]
		switch {
		case !seen:
			first[norm] = given{name, spec, version, len(out)}
			out = append(out, spec)
		case prev.version != version:
			return nil, errkind.With(fmt.Errorf("%s is given twice, as %s (%s) and %s (%s): one install links one version of a package; give one of them",
				prev.name, prev.spec, prev.version, spec, version), ErrUsage)
		case strings.HasSuffix(spec, ".whl") && !strings.HasSuffix(prev.spec, ".whl"):
			// A pin and the wheel of that version: the wheel, which
			// brings the package into the store if it is not there.
			out[prev.at] = spec
			first[norm] = given{name, spec, version, prev.at}
		}
	}
	return out, nil
}

// specNameVersion reads the project name and version of an install spec:
// a wheel file's name, or NAME==VERSION.
func specNameVersion(spec string) (name, version string, ok bool) {
	if strings.HasSuffix(spec, ".whl") {
		wf, err := wheel.ParseFilename(filepath.Base(spec))
		if err != nil {
			return "", "", false
		}
		return wf.Name, wf.Version, true
	}
	name, version, ok = strings.Cut(spec, "==")
	name, version = strings.TrimSpace(name), strings.TrimSpace(version)
	return name, version, ok && name != "" && version != ""
}
