package abi_test

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/forge-ml/forge/abi"
)

// readelfFloor returns the highest <prefix>x.y version `readelf -V` lists
// among the version needs of file.
func readelfFloor(t *testing.T, file, prefix string) string {
	t.Helper()
	out, err := exec.Command("readelf", "-V", "-W", file).Output()
	if err != nil {
		t.Skipf("readelf -V: %v", err)
	}
	// Version needs lines: "  0x0010:   Name: GLIBC_2.14  Flags: none  Version: 3"
	re := regexp.MustCompile(`Name: ` + regexp.QuoteMeta(prefix) + `([0-9.]+)\s+Flags`)
	floor := ""
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		floor = abi.MaxVersion(floor, m[1])
	}
	return floor
}

func readELF(t *testing.T, path, name string) (abi.ELF, []abi.Finding) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return abi.ReadELF(name, bytes.NewReader(data), int64(len(data)))
}

func TestReadELFFloorsMatchReadelf(t *testing.T) {
	files := builtELFs(t)
	for _, tc := range []struct {
		fixture                string
		glibc, glibcxx, cxxabi string
	}{
		{"glibc217", "2.17", "", ""},
		{"glibc228", "2.28", "", ""},
		{"glibc234", "2.34", "", ""},
		{"glibc236", "2.36", "", ""},
		{"glibcxx", "2.14", "3.4.29", "1.3.13"},
		{"musl", "", "", ""},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			e, problems := readELF(t, files[tc.fixture], "pkg/"+tc.fixture+".so")
			if len(problems) > 0 {
				t.Fatalf("problems: %v", problems)
			}
			for _, c := range []struct{ prefix, got, want string }{
				{"GLIBC_", e.GlibcFloor, tc.glibc},
				{"GLIBCXX_", e.GlibcxxFloor, tc.glibcxx},
				{"CXXABI_", e.CxxabiFloor, tc.cxxabi},
			} {
				if re := readelfFloor(t, files[tc.fixture], c.prefix); c.got != re {
					t.Errorf("%s floor = %q, readelf -V says %q", c.prefix, c.got, re)
				}
				if c.got != c.want {
					t.Errorf("%s floor = %q, want %q", c.prefix, c.got, c.want)
				}
			}
		})
	}
}

func TestReadELF(t *testing.T) {
	files := builtELFs(t)
	for _, tc := range []struct {
		fixture, path string
		check         func(t *testing.T, e abi.ELF)
	}{
		{"glibc217", "pkg/_ext.so", func(t *testing.T, e abi.ELF) {
			if e.Machine != "x86_64" || e.Class != 64 || e.Libc != "glibc" || e.Optional {
				t.Errorf("machine %q class %d libc %q optional %v", e.Machine, e.Class, e.Libc, e.Optional)
			}
			if !slices.Contains(e.Needed, "libc.so.6") {
				t.Errorf("needed = %v, want libc.so.6", e.Needed)
			}
		}},
		{"isa3", "pkg/_v3.so", func(t *testing.T, e abi.ELF) {
			if e.ISALevel != 3 {
				t.Errorf("ISA level = %d, want 3", e.ISALevel)
			}
		}},
		{"isa4", "pkg/glibc-hwcaps/x86-64-v4/_v4.so", func(t *testing.T, e abi.ELF) {
			if e.ISALevel != 4 || !e.Optional {
				t.Errorf("ISA level = %d optional %v, want 4 true", e.ISALevel, e.Optional)
			}
		}},
		{"glibc217", "pkg/_plain.so", func(t *testing.T, e abi.ELF) {
			if e.ISALevel > 1 {
				t.Errorf("ISA level = %d, want baseline or none", e.ISALevel)
			}
		}},
		{"cudart12", "pkg/_gpu.so", func(t *testing.T, e abi.ELF) {
			if e.CUDARuntimeMajor != 12 || e.LinksLibcuda {
				t.Errorf("cudart %d libcuda %v, want 12 false", e.CUDARuntimeMajor, e.LinksLibcuda)
			}
		}},
		{"libcuda", "pkg/_drv.so", func(t *testing.T, e abi.ELF) {
			if e.CUDARuntimeMajor != 0 || !e.LinksLibcuda {
				t.Errorf("cudart %d libcuda %v, want 0 true", e.CUDARuntimeMajor, e.LinksLibcuda)
			}
		}},
		{"needs-foo", "pkg/_foo.so", func(t *testing.T, e abi.ELF) {
			if !slices.Contains(e.Needed, "libfoo.so.1") || !slices.Equal(e.Runpath, []string{"$ORIGIN/../lib"}) || len(e.Rpath) != 0 {
				t.Errorf("needed %v runpath %v rpath %v", e.Needed, e.Runpath, e.Rpath)
			}
		}},
		{"stub-cudart12", "nvidia/cuda_runtime/lib/libcudart.so.12", func(t *testing.T, e abi.ELF) {
			if e.Soname != "libcudart.so.12" {
				t.Errorf("soname %q", e.Soname)
			}
		}},
		{"fat-sm80-sm90-ptx90", "pkg/_kernels.so", func(t *testing.T, e abi.ELF) {
			var got []string
			for _, c := range e.GPUCode {
				got = append(got, c.String()+"/"+c.PTXVersion)
			}
			if want := []string{"sm_80/", "sm_90/", "compute_90/8.1"}; !slices.Equal(got, want) {
				t.Errorf("GPU code = %v, want %v", got, want)
			}
			if !e.GPUCode[1].Compressed || e.GPUCode[0].Compressed {
				t.Errorf("compressed flags wrong: %+v", e.GPUCode)
			}
		}},
		{"fat-sm90a", "pkg/_kernels.so", func(t *testing.T, e abi.ELF) {
			if len(e.GPUCode) != 1 || e.GPUCode[0].String() != "sm_90a" {
				t.Errorf("GPU code = %+v, want sm_90a", e.GPUCode)
			}
		}},
		{"musl", "pkg/_musl.so", func(t *testing.T, e abi.ELF) {
			if e.Libc != "musl" || e.GlibcFloor != "" {
				t.Errorf("libc %q glibc floor %q, want musl and none", e.Libc, e.GlibcFloor)
			}
		}},
		{"musl-exe", "bin/tool", func(t *testing.T, e abi.ELF) {
			if e.Libc != "musl" || e.Interp != "/lib/ld-musl-x86_64.so.1" {
				t.Errorf("libc %q interp %q", e.Libc, e.Interp)
			}
		}},
		{"aarch64", "pkg/_arm.so", func(t *testing.T, e abi.ELF) {
			if e.Machine != "aarch64" {
				t.Errorf("machine %q, want aarch64", e.Machine)
			}
		}},
	} {
		t.Run(tc.fixture+"/"+tc.path, func(t *testing.T) {
			e, problems := readELF(t, files[tc.fixture], tc.path)
			if len(problems) > 0 {
				t.Fatalf("problems: %v", problems)
			}
			if e.Path != tc.path {
				t.Errorf("path %q", e.Path)
			}
			tc.check(t, e)
		})
	}
}

func TestReadELFHostile(t *testing.T) {
	files := builtELFs(t)
	good, err := os.ReadFile(files["glibc217"])
	if err != nil {
		t.Fatal(err)
	}
	truncated := good[:len(good)/3]
	badShoff := slices.Clone(good)
	binary.LittleEndian.PutUint64(badShoff[0x28:], 1<<62)
	badFatbin, err := os.ReadFile(files["fat-ptx80"])
	if err != nil {
		t.Fatal(err)
	}
	// Corrupt the fatbin container size inside the section.
	if i := bytes.Index(badFatbin, []byte{0x50, 0xed, 0x55, 0xba}); i >= 0 {
		binary.LittleEndian.PutUint64(badFatbin[i+8:], 1<<40)
	} else {
		t.Fatal("fatbin magic not found in fixture")
	}
	for _, tc := range []struct {
		name string
		data []byte
		code string
	}{
		{"empty", nil, abi.CodeMalformedELF},
		{"magic only", []byte("\x7fELF"), abi.CodeMalformedELF},
		{"truncated", truncated, abi.CodeMalformedELF},
		{"section headers far away", badShoff, abi.CodeMalformedELF},
		{"fatbin size past section", badFatbin, abi.CodeMalformedFatbin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, problems := abi.ReadELF("x.so", bytes.NewReader(tc.data), int64(len(tc.data)))
			if len(problems) == 0 {
				t.Fatalf("no problem reported")
			}
			found := false
			for _, p := range problems {
				if p.Severity != abi.Risk || !strings.Contains(p.Message, "x.so") {
					t.Errorf("problem %+v: want severity risk and the file named", p)
				}
				found = found || p.Code == tc.code
			}
			if !found {
				t.Errorf("problems %v: want code %s", problems, tc.code)
			}
		})
	}
}

func TestFingerprintSummary(t *testing.T) {
	files := builtELFs(t)
	fp := fingerprint(t, "torchish-2.4.0+cu121-cp311-cp311-manylinux_2_17_x86_64.whl",
		"Metadata-Version: 2.1\nName: torchish\nVersion: 2.4.0+cu121\nRequires-Dist: nvidia-cublas-cu12==12.1.3.1; platform_system == \"Linux\"\nRequires-Dist: nvidia-cudnn-cu12 (==9.1.0.70)\nRequires-Dist: numpy\n\nbody\n",
		fileMember(t, "torchish/_C.so", files["glibc234"]),
		fileMember(t, "torchish/lib/_gpu.so", files["cudart12"]),
		fileMember(t, "torchish/lib/_kernels.so", files["fat-sm80-sm90-ptx90"]),
		fileMember(t, "torchish/lib/_more.so", files["fat-sm70-sm80"]),
		fileMember(t, "torchish/glibc-hwcaps/x86-64-v4/_v4.so", files["isa4"]),
		fileMember(t, "torchish/_v3.so", files["isa3"]),
		fileMember(t, "torchish/_foo.so", files["needs-foo"]),
		fileMember(t, "nvidia/lib/libcudart.so.12", files["stub-cudart12"]),
	)
	var code []string
	for _, c := range fp.GPUCode {
		code = append(code, c.String())
	}
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"glibc floor", fp.GlibcFloor, "2.34"},
		{"libc", fp.LibcFamily, "glibc"},
		{"machines", strings.Join(fp.Machines, ","), "x86_64"},
		{"ISA level (optional v4 ignored)", fp.ISALevel, 3},
		{"cudart", fp.CUDARuntimeMajor, 12},
		{"flavour", fp.CUDAFlavour, "12.1"},
		{"nvidia requires", strings.Join(fp.NvidiaRequires, ","), "nvidia-cublas-cu12,nvidia-cudnn-cu12"},
		{"needed not shipped", strings.Join(fp.Needed, ","), "libc.so.6,libfoo.so.1,libgomp.so.1"},
		{"gpu code", strings.Join(code, ","), "sm_70,sm_80,sm_90,compute_90"},
		{"elfs sorted", fp.ELFs[0].Path, "nvidia/lib/libcudart.so.12"},
		{"files", fp.Files, 11},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}

func TestParseFlavour(t *testing.T) {
	for v, want := range map[string]string{
		"2.4.0+cu121": "12.1", "2.4.0+cu118": "11.8", "1.13.1+cu117.with.pypi.cudnn": "11.7",
		"2.4.0+cpu": "cpu", "2.4.0": "", "2.4.0+rocm6.1": "", "0.1+cu92": "9.2", "2.9+cu130": "13.0",
	} {
		if got := abi.ParseFlavour(v); got != want {
			t.Errorf("ParseFlavour(%q) = %q, want %q", v, got, want)
		}
	}
}

func TestParseGNUProperty(t *testing.T) {
	note := func(bits uint32, align int) []byte {
		var b bytes.Buffer
		le := binary.LittleEndian
		desc := make([]byte, 0, 16)
		desc = le.AppendUint32(desc, 0xc0008002)
		desc = le.AppendUint32(desc, 4)
		desc = le.AppendUint32(desc, bits)
		for len(desc)%align != 0 {
			desc = append(desc, 0)
		}
		binary.Write(&b, le, uint32(4))
		binary.Write(&b, le, uint32(len(desc)))
		binary.Write(&b, le, uint32(5))
		b.WriteString("GNU\x00")
		b.Write(desc)
		return b.Bytes()
	}
	for _, tc := range []struct {
		name  string
		data  []byte
		class elf.Class
		want  int
		err   bool
	}{
		{"v2 elf64", note(0b11, 8), elf.ELFCLASS64, 2, false},
		{"v3 elf64", note(0b111, 8), elf.ELFCLASS64, 3, false},
		{"v4 only bit", note(0b1000, 8), elf.ELFCLASS64, 4, false},
		{"baseline elf32", note(0b1, 4), elf.ELFCLASS32, 1, false},
		{"truncated", note(0b111, 8)[:20], elf.ELFCLASS64, 0, true},
		{"empty", nil, elf.ELFCLASS64, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := abi.ParseGNUProperty(tc.data, tc.class, binary.LittleEndian)
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("= %d, %v; want %d, error %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func FuzzParseGNUProperty(f *testing.F) {
	f.Add([]byte("\x04\x00\x00\x00\x10\x00\x00\x00\x05\x00\x00\x00GNU\x00\x02\x80\x00\xc0\x04\x00\x00\x00\x07\x00\x00\x00\x00\x00\x00\x00"), true)
	f.Add([]byte{}, false)
	f.Add([]byte("\xff\xff\xff\xff\x00\x00\x00\x00\x05\x00\x00\x00"), true)
	f.Fuzz(func(t *testing.T, data []byte, is64 bool) {
		class := elf.ELFCLASS32
		if is64 {
			class = elf.ELFCLASS64
		}
		lvl, _ := abi.ParseGNUProperty(data, class, binary.LittleEndian)
		if lvl < 0 || lvl > 4 {
			t.Fatalf("level %d", lvl)
		}
	})
}

func FuzzReadELF(f *testing.F) {
	// Real gcc-built seeds live in testdata/fuzz/FuzzReadELF (written by
	// TestWriteELFFuzzSeeds with FORGE_WRITE_FUZZ_SEEDS=1): building them here
	// would run gcc in every fuzz worker.
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, problems := abi.ReadELF("f.so", bytes.NewReader(data), int64(len(data)))
		for _, p := range problems {
			if p.Code != abi.CodeMalformedELF && p.Code != abi.CodeMalformedFatbin {
				t.Fatalf("unexpected problem code %q", p.Code)
			}
		}
		if e.Path != "f.so" {
			t.Fatalf("path %q", e.Path)
		}
	})
}

// TestWriteELFFuzzSeeds regenerates FuzzReadELF's seed corpus from fixture
// ELF files when FORGE_WRITE_FUZZ_SEEDS=1.
func TestWriteELFFuzzSeeds(t *testing.T) {
	if os.Getenv("FORGE_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set FORGE_WRITE_FUZZ_SEEDS=1 to regenerate testdata/fuzz/FuzzReadELF")
	}
	files := builtELFs(t)
	dir := filepath.Join("testdata", "fuzz", "FuzzReadELF")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"glibc217", "isa3", "fat-sm80-sm90-ptx90", "musl-exe"} {
		data, err := os.ReadFile(files[name])
		if err != nil {
			t.Fatal(err)
		}
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
