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
