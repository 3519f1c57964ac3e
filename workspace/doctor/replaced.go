package doctor

import (
	"fmt"
	"path/filepath"

	"github.com/forge-ml/forge/store"
	"github.com/forge-ml/forge/wheel"
	"github.com/forge-ml/forge/workspace"
)

// ForgetReplacedAction is the doctor --fix repair of a package that pip
// replaced inside an environment (pip install -U pip over the pip forge
// linked): forge's record of it goes, the files stay. Relinking instead
// would delete the newer package pip installed and put the old one back.
const ForgetReplacedAction = "forget_replaced"

// replacedBy names the distribution ("pip 24.2") that something other than
// forge installed in the layer at root under the project of m, or "" when
// there is none. Its .dist-info says so: INSTALLER is not "forge".
func replacedBy(root string, m store.Manifest) string {
	dirs, _ := filepath.Glob(filepath.Join(workspace.GlobEscape(root), "lib", "python*", "site-packages", "*.dist-info"))
	for _, d := range dirs {
		if md, ok := workspace.ForeignMetadata(d); ok && wheel.NormalizeName(md.Name) == m.NormName {
			return md.Name + " " + md.Version
		}
	}
	return ""
}

// forgetReplaced turns a broken-link issue of a package that was replaced
// into one whose fix forgets forge's record instead of relinking.
func forgetReplaced(is *Issue, root string, m store.Manifest) {
	by := replacedBy(root, m)
	if by == "" {
		return
	}
	is.Message += fmt.Sprintf(" (replaced by %s, installed by pip)", by)
	is.fix = &fixPlan{Fix: Fix{Action: ForgetReplacedAction, Target: m.Layer + ":" + m.NormName,
		Description: fmt.Sprintf("forget forge's %s in %s: %s installed by pip replaced it (its files stay)", m.NormName, m.Layer, by)}, m: m}
}
