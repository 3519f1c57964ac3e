package store

import (
	"errors"
	"strings"
	"testing"
)

// TestCheckLayout: what a wheel may ship where, by member name. The
// hostile corpus covers refusals end to end; this table also pins what
// stays accepted.
func TestCheckLayout(t *testing.T) {
	const di = "pkg-1.0.dist-info"
	for _, tc := range []struct {
		name   string
		member string
		refuse string // a word of the error; "" = accepted
	}{
		{"package file", "pkg/__init__.py", ""},
		{"dist-info file", di + "/METADATA", ""},
		{"own data dir", "pkg-1.0.data/", ""},
		{"scripts", "pkg-1.0.data/scripts/pkg-tool", ""},
		{"headers", "pkg-1.0.data/headers/pkg.h", ""},
		{"data under share", "pkg-1.0.data/data/share/pkg/x.txt", ""},
		{"data under lib", "pkg-1.0.data/data/lib/libpkg.so", ""},
		{"purelib package", "pkg-1.0.data/purelib/pkg_extra/__init__.py", ""},
		{"platlib module", "pkg-1.0.data/platlib/_pkg.so", ""},
		{"forge-like name deeper in a package", "pkg/_forge_helper.py", ""},
		{"top-level .pth of its own", "pkg.pth", ""},
		{"foreign data dir", "other-2.0.data/purelib/other.py", "not this wheel's .data directory"},
		{"data dir of another version", "pkg-2.0.data/purelib/x.py", "not this wheel's .data directory"},
		{"unknown scheme", "pkg-1.0.data/lib/x.py", "unknown .data directory"},
		{"lib64", "pkg-1.0.data/data/lib64/libx.so", "reserved"},
		{"pyvenv.cfg", "pkg-1.0.data/data/pyvenv.cfg", "reserved"},
		{"script directory", "pkg-1.0.data/scripts/sub/tool", "files only"},
		{"dist-info under purelib", "pkg-1.0.data/purelib/requests-99.0.dist-info/METADATA", "metadata"},
		{"egg-info under platlib", "pkg-1.0.data/platlib/requests.egg-info/PKG-INFO", "metadata"},
		{"top-level egg-info", "requests.egg-info/PKG-INFO", "metadata"},
		{"reserved .pth", "_forge_layers.pth", "reserved"},
		{"reserved under purelib", "pkg-1.0.data/purelib/_forge_mirror_00_x.pth", "reserved"},
		{"shared marker", "pkg/.forge-shared", "reserved"},
		{"split staging", "pkg.forge-split/x.py", "reserved"},
		{"copy temp", "pkg/.mod.py.forge-tmp", "reserved"},
		{"atomic write temp", "pkg/.forge-tmp-123", "reserved"},
		{"work name under data", "pkg-1.0.data/data/share/x.forge-split/y", "reserved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkLayout([]string{di + "/RECORD", tc.member}, di)
			if tc.refuse == "" {
				if err != nil {
					t.Fatalf("%s refused: %v", tc.member, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.refuse) || !strings.Contains(err.Error(), tc.member) {
				t.Fatalf("%s: err = %v, want ErrInvalid naming it and saying %q", tc.member, err, tc.refuse)
			}
		})
	}
}
