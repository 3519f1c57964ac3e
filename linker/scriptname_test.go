package linker

import "testing"

func TestBadScriptName(t *testing.T) {
	tests := []struct {
		name string
		bad  bool
	}{
		{"black", false}, {"pip3.12", false}, {"my-tool", false}, {".hidden", false},
		{".", true}, {"..", true}, {"a/b", true}, {`a\b`, true}, {"bell\a", true}, {"nul\x00", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if why := badScriptName(tt.name); (why != "") != tt.bad {
				t.Errorf("badScriptName(%q) = %q, want bad=%v", tt.name, why, tt.bad)
			}
		})
	}
}
