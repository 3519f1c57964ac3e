package wheel_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/wheel"
)

func TestParseWheelFile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    wheel.Info
		wantErr string
	}{
		{"bdist_wheel", "Wheel-Version: 1.0\nGenerator: bdist_wheel (0.43.0)\nRoot-Is-Purelib: false\nTag: cp311-cp311-manylinux_2_17_x86_64\nTag: cp311-cp311-manylinux2014_x86_64\n\n",
			wheel.Info{WheelVersion: "1.0", Generator: "bdist_wheel (0.43.0)", Tags: []string{"cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-manylinux2014_x86_64"}}, ""},
		{"compressed tag line and build, CRLF", "Wheel-Version: 1.0\r\nRoot-Is-Purelib: True\r\nTag: py2.py3-none-any\r\nBuild: 1b\r\n",
			wheel.Info{WheelVersion: "1.0", RootIsPurelib: true, Tags: []string{"py2-none-any", "py3-none-any"}, Build: "1b"}, ""},
		{"future minor version", "Wheel-Version: 1.9\nTag: py3-none-any\n", wheel.Info{WheelVersion: "1.9", Tags: []string{"py3-none-any"}}, ""},
		{"missing version", "Generator: x\nTag: py3-none-any\n", wheel.Info{}, "Wheel-Version missing"},
		{"major 2", "Wheel-Version: 2.0\nTag: py3-none-any\n", wheel.Info{}, "unsupported"},
		{"malformed line", "Wheel-Version: 1.0\nthis is not a header\n", wheel.Info{}, "line 2"},
		{"bad tag", "Wheel-Version: 1.0\nTag: py3-none\n", wheel.Info{}, "interpreter-abi-platform"},
		{"bad purelib", "Wheel-Version: 1.0\nRoot-Is-Purelib: yes\n", wheel.Info{}, "Root-Is-Purelib"},
		{"duplicate version", "Wheel-Version: 1.0\nWheel-Version: 1.0\n", wheel.Info{}, "2 times"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := wheel.ParseInfo([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, wheel.ErrMetadata) {
					t.Fatalf("err = %v, want ErrWheelMetadata mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.WheelVersion != tc.want.WheelVersion || got.Generator != tc.want.Generator || got.RootIsPurelib != tc.want.RootIsPurelib ||
				got.Build != tc.want.Build || !slices.Equal(got.Tags, tc.want.Tags) {
				t.Errorf("= %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseWheelFileFromFixtures(t *testing.T) {
	w := fixtures.Wheel{Name: "demo", Version: "1.0", Tag: "py2.py3-none-any"}
	info, err := wheel.ParseInfo(w.WheelFile())
	if err != nil {
		t.Fatal(err)
	}
	fn, err := wheel.ParseFilename(w.Filename())
	if err != nil {
		t.Fatal(err)
	}
	if err := wheel.CheckFilename(fn, info); err != nil {
		t.Error(err)
	}
}

func TestParseMetadata(t *testing.T) {
	md := "Metadata-Version: 2.1\nName: torch\nVersion: 2.4.0+cu121\nSummary: Tensors\nRequires-Python: >=3.8.0\n" +
		"Requires-Dist: filelock\nRequires-Dist: nvidia-cublas-cu12==12.1.3.1; platform_system == \"Linux\"\nProvides-Extra: opt-einsum\n" +
		"License: BSD\n        continued license line\n\nName: not-a-header\n"
	got, err := wheel.ParseMetadata([]byte(md))
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "torch" || got.Version != "2.4.0+cu121" || got.RequiresPython != ">=3.8.0" || got.MetadataVersion != "2.1" ||
		!slices.Equal(got.RequiresDist, []string{"filelock", `nvidia-cublas-cu12==12.1.3.1; platform_system == "Linux"`}) ||
		!slices.Equal(got.ProvidesExtra, []string{"opt-einsum"}) {
		t.Errorf("= %+v", got)
	}
	if got.License != "BSD\ncontinued license line" || got.LicenseExpression != "" || got.LicenseClassifiers != nil {
		t.Errorf("licence %q %q %q", got.License, got.LicenseExpression, got.LicenseClassifiers)
	}
	lic, err := wheel.ParseMetadata([]byte("Metadata-Version: 2.4\nName: x\nVersion: 1\nLicense-Expression: MIT OR Apache-2.0\n" +
		"Classifier: Programming Language :: Python\nClassifier: License :: OSI Approved :: MIT License\n"))
	if err != nil || lic.LicenseExpression != "MIT OR Apache-2.0" || !slices.Equal(lic.LicenseClassifiers, []string{"License :: OSI Approved :: MIT License"}) {
		t.Errorf("licence fields: %+v, %v", lic, err)
	}
	for _, tc := range []struct{ name, in, want string }{
		{"no name", "Metadata-Version: 2.1\nVersion: 1\n", "Name missing"},
		{"no version", "Name: x\n", "Version missing"},
		{"continuation first", "  x\nName: x\n", "continuation"},
		{"garbage", "Name: x\nVersion 1\n", "line 2"},
		{"kelvin sign", "Name: \u212aelvin\nVersion: 1\n", "not a project name"},
		{"non-ascii letter", "Name: caf\u00e9\nVersion: 1\n", "not a project name"},
		{"space", "Name: two words\nVersion: 1\n", "not a project name"},
		{"trailing dash", "Name: pkg-\nVersion: 1\n", "not a project name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := wheel.ParseMetadata([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestValidProjectName(t *testing.T) {
	for name, want := range map[string]bool{
		"x": true, "A.b-c_d": true, "torch": true, "zope.interface": true, "9lives": true,
		"": false, "-x": false, "x_": false, "\u212aelvin": false, "caf\u00e9": false, "a b": false, "a/b": false,
	} {
		if got := wheel.ValidProjectName(name); got != want {
			t.Errorf("ValidProjectName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestCheckFilenameAgainstWheel(t *testing.T) {
	info := wheel.Info{WheelVersion: "1.0", Tags: []string{"py3-none-any", "py2-none-any"}}
	for _, tc := range []struct {
		file string
		info wheel.Info
		ok   bool
	}{
		{"x-1.0-py2.py3-none-any.whl", info, true},
		{"x-1.0-py3-none-any.whl", info, false},
		{"x-1.0-1-py2.py3-none-any.whl", info, true},
		{"x-1.0-1-py2.py3-none-any.whl", wheel.Info{Tags: info.Tags, Build: "2"}, false},
		{"x-1.0-py2.py3-none-any.whl", wheel.Info{Tags: info.Tags, Build: "2"}, false},
	} {
		t.Run(tc.file+"/"+tc.info.Build, func(t *testing.T) {
			w, err := wheel.ParseFilename(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if err := wheel.CheckFilename(w, tc.info); (err == nil) != tc.ok {
				t.Errorf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func FuzzParseWheelFile(f *testing.F) {
	f.Add([]byte("Wheel-Version: 1.0\nGenerator: bdist_wheel\nRoot-Is-Purelib: true\nTag: py2.py3-none-any\n"))
	f.Add([]byte("Wheel-Version: 1.0\r\nTag: cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64\r\nBuild: 1\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := wheel.ParseInfo(data)
		if err != nil {
			return
		}
		for _, s := range info.Tags {
			if _, err := wheel.ParseTag(s); err != nil {
				t.Fatalf("expanded tag %q does not parse: %v", s, err)
			}
		}
	})
}

func FuzzParseMetadata(f *testing.F) {
	f.Add([]byte("Metadata-Version: 2.1\nName: a\nVersion: 1\nRequires-Dist: b\n\nbody"))
	f.Add([]byte("Name: a\n  cont\nVersion: 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := wheel.ParseMetadata(data)
		if err == nil && (m.Name == "" || m.Version == "") {
			t.Fatalf("accepted metadata without name/version: %+v", m)
		}
	})
}

func FuzzParseWheelFilename(f *testing.F) {
	f.Add("torch-2.4.0+cu121-cp311-cp311-manylinux_2_17_x86_64.whl")
	f.Add("x-1.0-1-py2.py3-none-any.whl")
	f.Add("a-b-c-d-e-f-g.whl")
	f.Fuzz(func(t *testing.T, name string) {
		w, err := wheel.ParseFilename(name)
		if err != nil {
			return
		}
		if len(w.Tags) == 0 {
			t.Fatalf("parsed %q without tags", name)
		}
		for _, tag := range w.Tags {
			back, err := wheel.ParseTag(tag.String())
			if err != nil || back != tag {
				t.Fatalf("tag %v does not round-trip: %v %v", tag, back, err)
			}
		}
	})
}

func FuzzParseTag(f *testing.F) {
	f.Add("cp312-cp312-manylinux_2_17_x86_64")
	f.Add("py3-none-any")
	f.Add("py2.py3-none-any")
	f.Fuzz(func(t *testing.T, s string) {
		tag, err := wheel.ParseTag(s)
		if err != nil {
			return
		}
		if tag.String() != s {
			t.Fatalf("ParseTag(%q).String() = %q", s, tag.String())
		}
		if p, ok := abi.ParsePlatform(tag.Platform); ok && p.Floor != "" && abi.MajorOf(p.Floor) < 0 {
			t.Fatalf("platform %q floor %q", tag.Platform, p.Floor)
		}
	})
}
