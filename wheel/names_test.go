package wheel_test

import (
	"path"
	"strings"
	"testing"

	"github.com/forge-ml/forge/wheel"
)

func TestCheckMemberName(t *testing.T) {
	for _, tc := range []struct {
		name, refuse string // refuse: a word of the error; "" = accepted
	}{
		{"pkg/__init__.py", ""},
		{"pkg/", ""},
		{"pkg-1.0.dist-info/METADATA", ""},
		{"", "empty"},
		{"../x", "traversal"},
		{"a/../../x", "traversal"},
		{"/etc/passwd", "absolute"},
		{"C:/x", "drive-letter"},
		{`a\b`, "backslash"},
		{"a\x00b", "NUL byte"},
		{"a\x07b", "control character"},
		{"a//b", "empty or '.'"},
		{"./a", "empty or '.'"},
		{"\xff", "not UTF-8"},
		{strings.Repeat("a", 256), "too long"},
		{strings.Repeat("a/", 600), "too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := wheel.CheckMemberName(tc.name)
			if tc.refuse == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.refuse) {
				t.Fatalf("err = %v, want %q", err, tc.refuse)
			}
		})
	}
}

// FuzzCheckMemberName: a name CheckMemberName accepts stays inside the
// directory it is unpacked into: relative, clean, no "..", no backslash.
func FuzzCheckMemberName(f *testing.F) {
	for _, s := range []string{"pkg/__init__.py", "pkg/", "../x", "a/./b", `a\b`, "/x", "C:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if wheel.CheckMemberName(name) != nil {
			return
		}
		trimmed := strings.TrimSuffix(name, "/")
		if path.IsAbs(name) || strings.ContainsRune(name, '\\') || path.Clean(trimmed) != trimmed ||
			trimmed == ".." || strings.HasPrefix(trimmed, "../") || len(name) >= 2 && name[1] == ':' {
			t.Fatalf("accepted %q", name)
		}
	})
}
