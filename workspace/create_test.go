package workspace

import (
	"regexp"
	"strings"
	"testing"
)

// envNameRule is the rule envNameOK writes out, as the regular expression
// it replaced.
var envNameRule = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func TestValidEnvName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"base", true},
		{"a", true},
		{"9lives", true},
		{"py3.12_cu121-dev", true},
		{strings.Repeat("x", 64), true},
		{strings.Repeat("x", 65), false},
		{"", false},
		{".hidden", false},
		{"-flag", false},
		{"_private", false},
		{"a/b", false},
		{"a b", false},
		{"..", false},
		{"héllo", false},
		{"GLOBAL", false},
		{"global", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := ValidEnvName(tc.name); (err == nil) != tc.ok {
				t.Errorf("ValidEnvName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
			}
		})
	}
}

// FuzzEnvNameOK: the written-out check accepts exactly what the regular
// expression accepts.
func FuzzEnvNameOK(f *testing.F) {
	for _, s := range []string{"base", "a.b-c_d", ".x", "x.", "", strings.Repeat("y", 64), strings.Repeat("y", 65), "ü", "a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got, want := envNameOK(name), envNameRule.MatchString(name); got != want {
			t.Errorf("envNameOK(%q) = %v, the rule says %v", name, got, want)
		}
	})
}
