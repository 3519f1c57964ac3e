package probe

import (
	"errors"
	"testing"

	"github.com/forge-ml/forge/abi"
)

// TestProfileParsersAgree: a document ParseProfile (every --host-profile)
// accepts is one abi.ParseHost (fixtures, the workspace) accepts, and the
// other way round. The python cases were accepted by ParseHost and
// rejected by ParseProfile, which alone derived tags from python.version.
func TestProfileParsersAgree(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		ok        bool
	}{
		{"minimal", `{"schema":"forge.host/v1"}`, true},
		{"python X.Y.Z", `{"schema":"forge.host/v1","python":{"implementation":"cpython","version":"3.12.1","abi":"cp312"}}`, true},
		{"python X.Y", `{"schema":"forge.host/v1","python":{"implementation":"cpython","version":"3.12","abi":"cp312"}}`, true},
		{"python major only, tags given", `{"schema":"forge.host/v1","python":{"version":"3","tags":["py3-none-any"]}}`, true},
		{"python major only", `{"schema":"forge.host/v1","python":{"implementation":"cpython","version":"3"}}`, false},
		{"python without version or tags", `{"schema":"forge.host/v1","python":{"implementation":"cpython"}}`, false},
		{"python version not dotted", `{"schema":"forge.host/v1","python":{"version":"3.x","tags":["py3-none-any"]}}`, false},
		{"libc family", `{"schema":"forge.host/v1","libc":{"family":"bionic"}}`, false},
		{"no schema", `{"os":"linux"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, hostErr := abi.ParseHost([]byte(tc.doc))
			_, profErr := ParseProfile([]byte(tc.doc), "x.json")
			if (hostErr == nil) != tc.ok || (profErr == nil) != tc.ok {
				t.Fatalf("ParseHost: %v; ParseProfile: %v; want ok=%v from both", hostErr, profErr, tc.ok)
			}
			if !tc.ok && (!errors.Is(hostErr, abi.ErrHostProfile) || !errors.Is(profErr, ErrProfile) || !errors.Is(profErr, abi.ErrHostProfile)) {
				t.Errorf("errors %v and %v do not both wrap abi.ErrHostProfile", hostErr, profErr)
			}
		})
	}
}
