package resolver

import (
	"errors"
	"slices"
	"testing"
)

func TestParseVersionNormalises(t *testing.T) {
	// Spellings from PEP 440's "Normalization" section.
	tests := []struct{ in, want string }{
		{"1.0", "1.0"},
		{"v1.0", "1.0"},
		{"V1.0", "1.0"},
		{"1.0RC1", "1.0rc1"},
		{"1.0c1", "1.0rc1"},
		{"1.0pre1", "1.0rc1"},
		{"1.0preview1", "1.0rc1"},
		{"1.0alpha1", "1.0a1"},
		{"1.0beta2", "1.0b2"},
		{"1.1.a1", "1.1a1"},
		{"1.1-a1", "1.1a1"},
		{"1.1_a1", "1.1a1"},
		{"1.1a", "1.1a0"},
		{"1.2-post2", "1.2.post2"},
		{"1.2post2", "1.2.post2"},
		{"1.2.r2", "1.2.post2"},
		{"1.2.rev2", "1.2.post2"},
		{"1.2.post", "1.2.post0"},
		{"1.0-1", "1.0.post1"},
		{"1.2-dev2", "1.2.dev2"},
		{"1.2dev", "1.2.dev0"},
		{"1.0+ubuntu-1", "1.0+ubuntu.1"},
		{"1.0+Ubuntu_1", "1.0+ubuntu.1"},
		{"1.0+01", "1.0+1"},
		{"00.01.002", "0.1.2"},
		{"0!1.0", "1.0"},
		{"1!2.0", "1!2.0"},
		{" 1.0\n", "1.0"},
		{"2.4.0+cu121", "2.4.0+cu121"},
		{"1.0a1.post2.dev3+x", "1.0a1.post2.dev3+x"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, err := ParseVersion(tt.in)
			if err != nil {
				t.Fatalf("ParseVersion(%q): %v", tt.in, err)
			}
			if got := v.String(); got != tt.want {
				t.Errorf("ParseVersion(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseVersionRefuses(t *testing.T) {
	for _, in := range []string{"", "1.0.", ".1", "1..0", "a", "1.0+", "1.0+a..b", "1.0-", "1.0 1", "1!", "1.0abc", "99999999999999999999999"} {
		t.Run(in, func(t *testing.T) {
			if v, err := ParseVersion(in); !errors.Is(err, ErrInvalidVersion) {
				t.Errorf("ParseVersion(%q) = %v, %v; want ErrInvalidVersion", in, v, err)
			}
		})
	}
}

func TestCompareOrdersPEP440Examples(t *testing.T) {
	// The ordering from PEP 440's "Summary of permitted suffixes and
	// relative ordering", extended with epochs and local labels.
	ordered := []string{
		"1.dev0", "1.0.dev456", "1.0a1", "1.0a2.dev456", "1.0a12.dev456", "1.0a12",
		"1.0b1.dev456", "1.0b2", "1.0b2.post345.dev456", "1.0b2.post345", "1.0rc1.dev456",
		"1.0rc1", "1.0", "1.0+abc.5", "1.0+abc.7", "1.0+5", "1.0.post456.dev34", "1.0.post456",
		"1.0.15", "1.1.dev1", "2.4.0+cpu", "2.4.0+cu118", "2.4.0+cu121", "1!0.1",
	}
	for i := range ordered {
		for j := range ordered {
			a, b := MustParseVersion(ordered[i]), MustParseVersion(ordered[j])
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			// 2.4.0+cpu vs 1.0 family and so on are covered by index order
			// because the list is globally sorted.
			if got := Compare(a, b); got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", a, b, got, want)
			}
		}
	}
	if Compare(MustParseVersion("1.0"), MustParseVersion("1.0.0.0")) != 0 {
		t.Error("1.0 and 1.0.0.0 must compare equal")
	}
}

func TestSpecifierContains(t *testing.T) {
	// Examples from PEP 440's "Version specifiers" section.
	tests := []struct {
		spec, version string
		prereleases   bool
		want          bool
	}{
		{"~=2.2", "2.3", false, true},
		{"~=2.2", "3.0", false, false},
		{"~=1.4.5", "1.4.9", false, true},
		{"~=1.4.5", "1.5.0", false, false},
		{"~=2.2.post3", "2.2.post3", false, true},
		{"~=2.2.post3", "2.9", false, true},
		{"~=1.4.5a4", "1.4.5", false, true},
		{"~=1.4.5a4", "1.4.5a4", false, true},
		{"~=1.4.5a4", "1.5", false, false},
		{"==1.1.post1", "1.1", false, false},
		{"==1.1.*", "1.1.post1", false, true},
		{"==1.1", "1.1.0", false, true},
		{"==1.1.0", "1.1", false, true},
		{"==1.*", "1.0rc1", false, false},
		{"==1.*", "1.0rc1", true, true},
		{"!=1.1.*", "1.1.3", false, false},
		{"!=1.1.*", "1.2", false, true},
		{"==2.4.0", "2.4.0+cu121", false, true},
		{"==2.4.0+cu121", "2.4.0+cu121", false, true},
		{"==2.4.0+cu121", "2.4.0", false, false},
		{"!=2.4.0+cu118", "2.4.0+cu121", false, true},
		{"<=2.4.0", "2.4.0+cu121", false, true},
		{">=2.4.0", "2.4.0+cu121", false, true},
		{">2.4.0", "2.4.0+cu121", false, false},
		{"<2.4.1", "2.4.0+cu121", false, true},
		{"<3.0", "3.0rc1", true, false},
		{"<3.0", "3.0.dev1", true, false},
		{"<3.0rc2", "3.0rc1", true, true},
		{"<3.0rc2", "3.0rc1", false, false}, // only inclusive operators opt in
		{"<3.0", "2.9rc1", true, true},
		{"<3.0", "2.9rc1", false, false},
		{">1.7", "1.7.1", false, true},
		{">1.7", "1.7.0.post1", false, false},
		{">1.7.post2", "1.7.1", false, true},
		{">1.7.post2", "1.7.0.post3", false, true},
		{">1.7.post2", "1.7.0.post1", false, false},
		{">=1.0a1", "1.0b1", false, true}, // the clause names a pre-release
		{">=1.0", "1.1a1", false, false},
		{">=1.0", "1.1a1", true, true},
		{"", "1.0a1", false, false},
		{"", "1.0a1", true, true},
		{"", "1.0", false, true},
		{"===1.0", "1.0", false, true},
		{"===1.0", "1.0.0", false, false},
		{"===1.0+LOCAL", "1.0+local", false, true},
		{">=1.21,<2", "1.26.4", false, true},
		{">=1.21,<2", "2.0.0", false, false},
		{">= 1.21 , < 2 , != 1.22.*", "1.22.1", false, false},
		{"==1!1.0", "1.0", false, false},
		{">=1!0", "999", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.spec+"/"+tt.version, func(t *testing.T) {
			set, err := ParseSpecifierSet(tt.spec)
			if err != nil {
				t.Fatalf("ParseSpecifierSet(%q): %v", tt.spec, err)
			}
			if got := set.Contains(MustParseVersion(tt.version), tt.prereleases); got != tt.want {
				t.Errorf("SpecifierSet(%q).Contains(%s, %v) = %v, want %v", tt.spec, tt.version, tt.prereleases, got, tt.want)
			}
		})
	}
}

func TestParseSpecifierSet(t *testing.T) {
	tests := []struct {
		in   string
		want []string // clauses; nil when refused
	}{
		{"", []string{}},
		{">=1.0", []string{">=1.0"}},
		{" >= 1.0 , <2 ", []string{">=1.0", "<2"}},
		{">=1,,<2", []string{">=1", "<2"}},
		{"==1.*", []string{"==1.*"}},
		{"!=2.4.0+cu118", []string{"!=2.4.0+cu118"}},
		{"===anything-goes", []string{"===anything-goes"}},
		{"~=1.0", []string{"~=1.0"}},
		{"~=1", nil},
		{">=1.*", nil},
		{">=1.0+local", nil},
		{"~=1.0+local", nil},
		{"==1.0a1.*", nil},
		{"1.0", nil},
		{"=>1.0", nil},
		{">=", nil},
		{"==1.0 1", nil},
		{"==x", nil},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			set, err := ParseSpecifierSet(tt.in)
			if tt.want == nil {
				if !errors.Is(err, ErrInvalidSpecifier) {
					t.Errorf("ParseSpecifierSet(%q) = %s, %v; want ErrInvalidSpecifier", tt.in, set, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSpecifierSet(%q): %v", tt.in, err)
			}
			got := []string{}
			for _, sp := range set.Specifiers() {
				got = append(got, sp.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ParseSpecifierSet(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1.0", "v1.0RC1", "1!2.0.post3.dev4+ubuntu.1", "1.0-1", "2.4.0+cu121", "", "1..0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if err != nil {
			return
		}
		// The normalised form parses back to an equal version that prints
		// the same.
		w, err := ParseVersion(v.String())
		if err != nil {
			t.Fatalf("ParseVersion(%q) = %s, which does not parse: %v", s, v, err)
		}
		if Compare(v, w) != 0 || w.String() != v.String() {
			t.Fatalf("round trip of %q: %s != %s", s, v, w)
		}
		if Compare(v.Public(), v) > 0 || Compare(v.Base(), v.Base().Public()) != 0 {
			t.Fatalf("public/base ordering broken for %s", v)
		}
	})
}

func FuzzParseSpecifierSet(f *testing.F) {
	for _, s := range []string{">=1.21,<2", "==1.*", "~=2.2.post3", "===x", "!=2.4.0+cu118", "", ">=1,,<2"} {
		f.Add(s, "1.0")
	}
	f.Fuzz(func(t *testing.T, s, version string) {
		set, err := ParseSpecifierSet(s)
		if err != nil {
			return
		}
		again, err := ParseSpecifierSet(set.String())
		if err != nil {
			t.Fatalf("ParseSpecifierSet(%q) = %q, which does not parse: %v", s, set, err)
		}
		if again.String() != set.String() {
			t.Fatalf("round trip of %q: %q != %q", s, set, again)
		}
		v, err := ParseVersion(version)
		if err != nil {
			return
		}
		// Allowing pre-releases never rejects what the default accepts.
		if set.Contains(v, false) && !set.Contains(v, true) {
			t.Fatalf("%q contains %s by default but not with pre-releases allowed", s, v)
		}
	})
}
