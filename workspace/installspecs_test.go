package workspace

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestOneVersionEach(t *testing.T) {
	tests := []struct {
		name  string
		specs []string
		want  []string // the specs kept; nil with wantErr
		err   string   // substring of the usage error; "" for none
	}{
		{name: "distinct packages", specs: []string{"a-1.0-py3-none-any.whl", "b==2"}, want: []string{"a-1.0-py3-none-any.whl", "b==2"}},
		{name: "two versions of files", specs: []string{"d/PyYAML-5.4-py3-none-any.whl", "d/PyYAML-6.0-py3-none-any.whl"},
			err: "PyYAML is given twice, as d/PyYAML-5.4-py3-none-any.whl (5.4) and d/PyYAML-6.0-py3-none-any.whl (6.0)"},
		{name: "a file and a pin, names normalised", specs: []string{"PyYAML-5.4-py3-none-any.whl", "pyyaml==6.0"},
			err: "as PyYAML-5.4-py3-none-any.whl (5.4) and pyyaml==6.0 (6.0)"},
		{name: "the same file twice is kept once", specs: []string{"x/a-1.0-py3-none-any.whl", "x/a-1.0-py3-none-any.whl"}, want: []string{"x/a-1.0-py3-none-any.whl"}},
		{name: "a pin and its wheel: the wheel", specs: []string{"a==1.0", "b==2", "a-1.0-py3-none-any.whl"}, want: []string{"a-1.0-py3-none-any.whl", "b==2"}},
		{name: "a wheel and its pin: the wheel", specs: []string{"a-1.0-py3-none-any.whl", "a==1.0"}, want: []string{"a-1.0-py3-none-any.whl"}},
		{name: "unreadable specs are left to install", specs: []string{"nope.whl", "junk", "nope.whl"}, want: []string{"nope.whl", "junk", "nope.whl"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := oneVersionEach(tt.specs)
			if tt.err != "" {
				if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), tt.err) || strings.HasSuffix(err.Error(), "usage") {
					t.Fatalf("err = %v, want a usage error saying %q (without the kind's text)", err, tt.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("oneVersionEach(%q) = %q, %v; want %q", tt.specs, got, err, tt.want)
			}
		})
	}
}
