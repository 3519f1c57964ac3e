package resolver

import (
	"errors"
	"slices"
	"testing"
)

func TestParseRequirement(t *testing.T) {
	tests := []struct {
		in               string
		name, norm, spec string
		extras           []string
		url, marker      string
		wantErr          bool
	}{
		{in: "numpy", name: "numpy", norm: "numpy"},
		{in: "Foo_Bar.baz[Dev, test]~=1.4.5", name: "Foo_Bar.baz", norm: "foo-bar-baz", spec: "~=1.4.5", extras: []string{"Dev", "test"}},
		{in: "scipy (>=1.11, <2)", name: "scipy", norm: "scipy", spec: ">=1.11,<2"},
		{in: `tomli>=1.1.0; python_version < "3.11"`, name: "tomli", norm: "tomli", spec: ">=1.1.0", marker: `python_version < "3.11"`},
		{in: `pytest ; extra == 'Dev_Tools'`, name: "pytest", norm: "pytest", marker: `extra == "dev-tools"`},
		{in: "pkg @ file:///wheels/pkg-1.0-py3-none-any.whl", name: "pkg", norm: "pkg", url: "file:///wheels/pkg-1.0-py3-none-any.whl"},
		{in: `pkg[a] @ https://x/y.whl ; os_name == "posix"`, name: "pkg", norm: "pkg", extras: []string{"a"}, url: "https://x/y.whl", marker: `os_name == "posix"`},
		{in: "-pkg", wantErr: true},
		{in: "pkg>=", wantErr: true},
		{in: "pkg[dev", wantErr: true},
		{in: "pkg;", wantErr: true},
		{in: `pkg; python_version < 3.11`, wantErr: true},
		{in: "pkg 1.0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := ParseRequirement(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidRequirement) {
					t.Errorf("ParseRequirement(%q) = %s, %v; want ErrInvalidRequirement", tt.in, r, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRequirement(%q): %v", tt.in, err)
			}
			if r.Name != tt.name || r.Normalized != tt.norm || r.Specifier.String() != tt.spec ||
				!slices.Equal(r.Extras, tt.extras) || r.URL != tt.url || r.Marker.String() != tt.marker {
				t.Errorf("ParseRequirement(%q) = %+v (marker %q)", tt.in, r, r.Marker.String())
			}
		})
	}
}

func TestMarkerEvaluate(t *testing.T) {
	linux310 := map[string]string{
		"python_version": "3.10", "python_full_version": "3.10.13", "sys_platform": "linux",
		"platform_release": "6.8.0-45-generic", "platform_machine": "x86_64", "os_name": "posix",
	}
	tests := []struct {
		marker string
		extras []string
		want   bool
	}{
		{`python_version < "3.11"`, nil, true},
		{`python_version >= "3.11"`, nil, false},
		{`python_version < "3.11" and sys_platform == "win32"`, nil, false},
		{`sys_platform == "win32" or python_version == "3.10"`, nil, true},
		{`sys_platform == "win32" and python_version == "3.10" or os_name == "posix"`, nil, true},
		{`sys_platform == "win32" and (python_version == "3.10" or os_name == "posix")`, nil, false},
		{`"x86" in platform_machine`, nil, true},
		{`platform_machine not in "aarch64 arm64"`, nil, true},
		// Not a version on the left: compared as strings, where packaging
		// 24.1 raises InvalidVersion.
		{`platform_release >= "6"`, nil, true},
		{`platform_release < "5"`, nil, false},
		{`extra == "dev"`, nil, false},
		{`extra == "dev"`, []string{"test", "dev"}, true},
		{`extra == "Dev_Tools"`, []string{"dev.tools"}, true},
		{`extra != "dev"`, []string{"dev"}, true}, // true for the distribution itself
		{`extra == "dev" and python_version >= "3.11"`, []string{"dev"}, false},
		{`implementation_name == ""`, nil, true}, // absent variables read as ""
	}
	for _, tt := range tests {
		t.Run(tt.marker, func(t *testing.T) {
			m, err := ParseMarker(tt.marker)
			if err != nil {
				t.Fatalf("ParseMarker(%q): %v", tt.marker, err)
			}
			if got := m.Evaluate(MarkerEnv{Vars: linux310, Extras: tt.extras}); got != tt.want {
				t.Errorf("Evaluate(%q, extras %v) = %v, want %v", tt.marker, tt.extras, got, tt.want)
			}
		})
	}
}

func TestParseMarkerRefuses(t *testing.T) {
	for _, in := range []string{"", `python_version`, `python_version <`, `bogus == "1"`, `python_version < 3`, `(python_version < "3"`, `python_version notin "3"`, `python_version < "3" and`, `"3" "3"`} {
		t.Run(in, func(t *testing.T) {
			if m, err := ParseMarker(in); !errors.Is(err, ErrInvalidMarker) {
				t.Errorf("ParseMarker(%q) = %v, %v; want ErrInvalidMarker", in, m, err)
			}
		})
	}
}

func FuzzParseRequirement(f *testing.F) {
	for _, s := range []string{
		"numpy>=1.21,<2", `tomli; python_version < "3.11"`, "pkg[dev,test] (==1.*)",
		`pkg @ https://x/y.whl ; extra == "dev"`, `a; (os_name == "nt" or sys_platform in "linux") and extra != 'x'`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRequirement(s)
		if err != nil {
			return
		}
		again, err := ParseRequirement(r.String())
		if err != nil {
			t.Fatalf("ParseRequirement(%q) = %q, which does not parse: %v", s, r, err)
		}
		if again.String() != r.String() {
			t.Fatalf("round trip of %q: %q != %q", s, r, again)
		}
		r.Marker.Evaluate(MarkerEnv{Extras: []string{"dev"}})
	})
}
