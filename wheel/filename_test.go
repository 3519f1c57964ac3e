package wheel_test

import (
	"strings"
	"testing"

	"github.com/forge-ml/forge/wheel"
)

func TestParseWheelFilenameVariant(t *testing.T) {
	for _, tc := range []struct {
		file, build, variant, tag, err string
	}{
		{file: "torch-2.9.0-cp313-cp313-linux_x86_64-cu128.whl", variant: "cu128", tag: "cp313-cp313-linux_x86_64"},
		{file: "torch-2.9.0-1-cp313-cp313-linux_x86_64-cu128.whl", build: "1", variant: "cu128", tag: "cp313-cp313-linux_x86_64"},
		{file: "numpy-2.3.2-cp313-cp313t-musllinux_1_2_x86_64-x86_64_v3.whl", variant: "x86_64_v3", tag: "cp313-cp313t-musllinux_1_2_x86_64"},
		{file: "pkg-1.0-2-py3-none-any.whl", build: "2", tag: "py3-none-any"},
		{file: "pkg-1.0-py3-none-any-null.whl", variant: "null", tag: "py3-none-any"},
		{file: "pkg-1.0-py3-none-any-CU128.whl", err: "variant label"},
		{file: "pkg-1.0-x-py3-none-any-cu1.whl", err: "build tag"},
		{file: "pkg-1.0-1-2-py3-none-any-cu1.whl", err: "want name-version"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			w, err := wheel.ParseFilename(tc.file)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if w.Build != tc.build || w.Variant != tc.variant || len(w.Tags) != 1 || w.Tags[0].String() != tc.tag {
				t.Errorf("= %+v, want build %q variant %q tag %s", w, tc.build, tc.variant, tc.tag)
			}
		})
	}
}

// FuzzExpandTags: every expanded tag round-trips through ParseTag and is
// one of the compressed set's combinations.
func FuzzExpandTags(f *testing.F) {
	f.Add("py2.py3", "none", "any")
	f.Add("cp312", "cp312", "manylinux_2_17_x86_64.manylinux2014_x86_64")
	f.Add("cp3", "abi3", "linux_x86_64")
	f.Add("", ".", "..")
	f.Fuzz(func(t *testing.T, interp, abiTag, plat string) {
		// Callers pass the parts of a name split on "-"; the file name
		// length limit (255) bounds the product.
		if strings.Contains(interp+abiTag+plat, "-") || len(interp)+len(abiTag)+len(plat) > 255 {
			return
		}
		tags, err := wheel.ExpandTags(interp, abiTag, plat)
		if err != nil {
			return
		}
		if len(tags) == 0 {
			t.Fatalf("ExpandTags(%q, %q, %q): no tags and no error", interp, abiTag, plat)
		}
		in := func(set, part string) bool {
			for _, s := range strings.Split(set, ".") {
				if s == part {
					return true
				}
			}
			return false
		}
		for _, tag := range tags {
			back, err := wheel.ParseTag(tag.String())
			if err != nil || back != tag {
				t.Fatalf("tag %v does not round-trip: %v, %v", tag, back, err)
			}
			if !in(interp, tag.Interpreter) || !in(abiTag, tag.ABI) || !in(plat, tag.Platform) {
				t.Fatalf("ExpandTags(%q, %q, %q) made %v", interp, abiTag, plat, tag)
			}
		}
	})
}

func TestCompressTags(t *testing.T) {
	for _, tc := range []struct {
		name string
		tags []string
		want string
	}{
		{"one", []string{"cp312-cp312-manylinux_2_17_x86_64"}, "cp312-cp312-manylinux_2_17_x86_64"},
		{"python set", []string{"py2-none-any", "py3-none-any"}, "py2.py3-none-any"},
		{"platform set, repeated", []string{"cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-manylinux2014_x86_64", "cp311-cp311-manylinux_2_17_x86_64"}, "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"},
		{"not tags skipped", []string{"junk", "py3-none-any"}, "py3-none-any"},
		{"none", nil, "py3-none-any"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := wheel.CompressTags(tc.tags); got != tc.want {
				t.Errorf("CompressTags(%q) = %q, want %q", tc.tags, got, tc.want)
			}
		})
	}
}

// FuzzCompressTags: the compressed set expands to a set holding every tag
// it was made from.
func FuzzCompressTags(f *testing.F) {
	f.Add("py2-none-any", "py3-none-any")
	f.Add("cp312-cp312-linux_x86_64", "cp312-abi3-linux_x86_64")
	f.Fuzz(func(t *testing.T, a, b string) {
		var tags []string
		for _, s := range []string{a, b} {
			if tg, err := wheel.ParseTag(s); err == nil {
				tags = append(tags, tg.String())
			}
		}
		parts := strings.Split(wheel.CompressTags(tags), "-")
		if len(parts) != 3 {
			t.Fatalf("CompressTags(%q) has %d components", tags, len(parts))
		}
		set, err := wheel.ExpandTags(parts[0], parts[1], parts[2])
		if err != nil {
			t.Fatalf("CompressTags(%q) does not expand: %v", tags, err)
		}
		for _, tg := range tags {
			found := false
			for _, s := range set {
				found = found || s.String() == tg
			}
			if !found {
				t.Fatalf("CompressTags(%q) lost %s", tags, tg)
			}
		}
	})
}

func TestSameVersion(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"1.0", "1.0", true}, {"1.0rc1", "1.0RC1", true}, {"1.0-1", "1.0_1", true}, {"1.0", "1.1", false}, {"1.0", "1.0.0", false},
	} {
		if got := wheel.SameVersion(tc.a, tc.b); got != tc.want {
			t.Errorf("SameVersion(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
