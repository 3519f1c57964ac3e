package abi_test

import (
	"strings"
	"testing"

	"github.com/forge-ml/forge/abi"
)

// FuzzParsePlatform: a platform tag forge accepts names a libc it knows, a
// floor that is a version and an architecture without separators.
func FuzzParsePlatform(f *testing.F) {
	for _, s := range []string{"any", "linux_x86_64", "manylinux1_x86_64", "manylinux2014_aarch64", "manylinux_2_28_x86_64",
		"musllinux_1_2_x86_64", "macosx_11_0_arm64", "win_amd64", "manylinux_2_x86_64", "linux_"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tag string) {
		p, ok := abi.ParsePlatform(tag)
		if !ok {
			return
		}
		switch p.Libc {
		case "any", "glibc", "musl", "":
		default:
			t.Fatalf("ParsePlatform(%q): libc %q", tag, p.Libc)
		}
		if p.Floor != "" && abi.MajorOf(p.Floor) < 0 {
			t.Fatalf("ParsePlatform(%q): floor %q is not a version", tag, p.Floor)
		}
		if tag != "any" && (p.Arch == "" || !strings.HasSuffix(tag, p.Arch)) {
			t.Fatalf("ParsePlatform(%q): arch %q", tag, p.Arch)
		}
	})
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
		tags, err := abi.ExpandTags(interp, abiTag, plat)
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
			back, err := abi.ParseTag(tag.String())
			if err != nil || back != tag {
				t.Fatalf("tag %v does not round-trip: %v, %v", tag, back, err)
			}
			if !in(interp, tag.Interpreter) || !in(abiTag, tag.ABI) || !in(plat, tag.Platform) {
				t.Fatalf("ExpandTags(%q, %q, %q) made %v", interp, abiTag, plat, tag)
			}
		}
	})
}

// FuzzParseFlavour never panics and names a CUDA flavour only from a local
// version label.
func FuzzParseFlavour(f *testing.F) {
	for _, s := range []string{"2.4.0+cu121", "2.4.0+cpu", "2.4.0", "1.0+cu", "+cu9999999999999999999", "+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		fl := abi.ParseFlavour(v)
		if fl != "" && !strings.Contains(v, "+") {
			t.Fatalf("ParseFlavour(%q) = %q without a local label", v, fl)
		}
	})
}
