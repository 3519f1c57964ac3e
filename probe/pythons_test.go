package probe

import (
	"errors"
	"strings"
	"testing"
)

func TestSupported(t *testing.T) {
	tests := []struct {
		version string
		want    bool
	}{
		{"2.7.18", false}, {"3.6.15", false}, {"3.7.16", false},
		{"3.8.0", true}, {"3.10.13", true}, {"3.13.0", true}, {"4.0.0", true},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			x, y, ok := MajorMinor(tt.version)
			if !ok {
				t.Fatalf("MajorMinor(%q) failed", tt.version)
			}
			if got := Supported(x, y); got != tt.want {
				t.Errorf("Supported(%d, %d) = %v, want %v", x, y, got, tt.want)
			}
		})
	}
}

// TestInterpreterNamesOldPython: a Python 2 interpreter rejects the facts
// script's -I with a usage dump; Interpreter names its version instead.
func TestInterpreterNamesOldPython(t *testing.T) {
	exe, err := FindPython("2.7")
	if err != nil {
		t.Skipf("no Python 2.7: %v", err)
	}
	_, err = Interpreter(exe)
	if !errors.Is(err, ErrUnsupportedPython) {
		t.Fatalf("Interpreter(%s) = %v, want ErrUnsupportedPython", exe, err)
	}
	if msg := err.Error(); !strings.Contains(msg, "Python 2.7.") || !strings.Contains(msg, SupportedRange()) || strings.Contains(msg, "usage") {
		t.Errorf("message %q should name 2.7.x and %s, without the usage dump", msg, SupportedRange())
	}
	v, err := Version(exe, 0)
	if err != nil || !strings.HasPrefix(v, "2.7.") {
		t.Errorf("Version = %q, %v", v, err)
	}
}
