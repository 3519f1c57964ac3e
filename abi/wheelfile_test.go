package abi_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/store"
)

const nativeTag = "cp311-cp311-manylinux_2_17_x86_64"

// nativeWheel is a wheel of the ELF fixtures named by elfs (keys of
// builtELFs), each at pkg/<name>.so, plus a Python module.
func nativeWheel(t *testing.T, name, version string, elfs map[string]string, opts ...func(*fixtures.Wheel)) fixtures.Wheel {
	t.Helper()
	files := builtELFs(t)
	w := fixtures.Wheel{Name: name, Version: version, Tag: nativeTag,
		Files: []fixtures.File{{Name: name + "/__init__.py", Data: []byte("X = 1\n")}}}
	for member, key := range elfs {
		data, err := os.ReadFile(files[key])
		if err != nil {
			t.Fatal(err)
		}
		w.Files = append(w.Files, fixtures.File{Name: member, Data: data, Mode: 0o755})
	}
	for _, o := range opts {
		o(&w)
	}
	return w
}

// TestFingerprintWheelMatchesIngest: a wheel fingerprinted from its file
// gives what the store computes at ingest, member for member.
func TestFingerprintWheelMatchesIngest(t *testing.T) {
	tests := []struct {
		name  string
		wheel func(t *testing.T) fixtures.Wheel
	}{
		{"pure", func(t *testing.T) fixtures.Wheel { return fixtures.PurePackage("purepkg", "1.0") }},
		{"glibc 2.34", func(t *testing.T) fixtures.Wheel {
			return nativeWheel(t, "glibcpkg", "1.0", map[string]string{"glibcpkg/_ext.so": "glibc234"})
		}},
		{"cuda 12 with fatbin and shipped libcudart", func(t *testing.T) fixtures.Wheel {
			return nativeWheel(t, "cudapkg", "2.0+cu121", map[string]string{
				"cudapkg/_gpu.so":                       "cudart12",
				"cudapkg/_kernels.so":                   "fat-sm70-sm80",
				"cudapkg/lib/libcudart.so.12":           "stub-cudart12",
				"cudapkg/glibc-hwcaps/x86-64-v4/_v4.so": "isa4",
			}, func(w *fixtures.Wheel) { w.Requires = []string{"nvidia-cublas-cu12>=12.1"} })
		}},
		{"musl and aarch64", func(t *testing.T) fixtures.Wheel {
			return nativeWheel(t, "oddpkg", "0.1", map[string]string{"oddpkg/_musl.so": "musl", "oddpkg/_arm.so": "aarch64", "oddpkg/bin/tool": "musl-exe"})
		}},
	}
	ctx := context.Background()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := fixtures.WriteWheel(t, dir, tt.wheel(t))
			got, err := abi.FingerprintWheel(p)
			if err != nil {
				t.Fatal(err)
			}
			res, err := st.Ingest(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			want := res.Entry.Fingerprint
			gj, _ := json.MarshalIndent(got, "", " ")
			wj, _ := json.MarshalIndent(want, "", " ")
			if !bytes.Equal(gj, wj) {
				t.Errorf("FingerprintWheel differs from ingest:\n--- got\n%s\n--- ingest\n%s", gj, wj)
			}
		})
	}
}

func TestFingerprintWheelContent(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		wheel func(t *testing.T) fixtures.Wheel
		check func(t *testing.T, fp *abi.Fingerprint)
	}{
		{"pure wheel has no ELF", func(t *testing.T) fixtures.Wheel { return fixtures.PurePackage("purepkg", "1.0") },
			func(t *testing.T, fp *abi.Fingerprint) {
				if len(fp.ELFs) != 0 || fp.GlibcFloor != "" || !slices.Equal(fp.Tags, []string{"py3-none-any"}) {
					t.Errorf("fingerprint %+v", fp)
				}
				if fp.Files < 4 {
					t.Errorf("files = %d, want the members counted", fp.Files)
				}
			}},
		{"glibc floor is the highest version need", func(t *testing.T) fixtures.Wheel {
			return nativeWheel(t, "glibcpkg", "1.0", map[string]string{"glibcpkg/_ext.so": "glibc234", "glibcpkg/_old.so": "glibc217"})
		}, func(t *testing.T, fp *abi.Fingerprint) {
			if fp.GlibcFloor != "2.34" || fp.LibcFamily != "glibc" || len(fp.ELFs) != 2 {
				t.Errorf("glibc floor %q, libc %q, %d ELFs", fp.GlibcFloor, fp.LibcFamily, len(fp.ELFs))
			}
			if !slices.Equal(fp.WheelTags, []string{nativeTag}) {
				t.Errorf("wheel tags %v", fp.WheelTags)
			}
		}},
		{"CUDA runtime, GPU code and nvidia requirement", func(t *testing.T) fixtures.Wheel {
			return nativeWheel(t, "cudapkg", "2.0+cu121", map[string]string{"cudapkg/_gpu.so": "cudart12", "cudapkg/_kernels.so": "fat-sm70-sm80"},
				func(w *fixtures.Wheel) { w.Requires = []string{"nvidia-cublas-cu12>=12.1"} })
		}, func(t *testing.T, fp *abi.Fingerprint) {
			if fp.CUDARuntimeMajor != 12 || fp.CUDAFlavour != "12.1" || len(fp.GPUCode) != 2 {
				t.Errorf("cuda runtime %d, flavour %q, gpu code %v", fp.CUDARuntimeMajor, fp.CUDAFlavour, fp.GPUCode)
			}
			if !slices.Equal(fp.NvidiaRequires, []string{"nvidia-cublas-cu12"}) {
				t.Errorf("nvidia requires %v", fp.NvidiaRequires)
			}
			if !slices.Contains(fp.Needed, "libcudart.so.12") {
				t.Errorf("needed %v lacks libcudart.so.12", fp.Needed)
			}
		}},
		{"malformed ELF is a problem, not an error", func(t *testing.T) fixtures.Wheel {
			return fixtures.Wheel{Name: "badelf", Version: "1.0", Tag: nativeTag,
				Files: []fixtures.File{{Name: "badelf/_x.so", Data: append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 40)...)}}}
		}, func(t *testing.T, fp *abi.Fingerprint) {
			if len(fp.Problems) == 0 || fp.Problems[0].Code != abi.CodeMalformedELF {
				t.Errorf("problems %v, want %s", fp.Problems, abi.CodeMalformedELF)
			}
		}},
		{"large ELF member is streamed", func(t *testing.T) fixtures.Wheel {
			w := nativeWheel(t, "bigpkg", "1.0", map[string]string{"bigpkg/_ext.so": "glibc228"})
			for i := range w.Files {
				if filepath.Ext(w.Files[i].Name) == ".so" {
					w.Files[i].Data = append(w.Files[i].Data, make([]byte, 24<<20)...)
				}
			}
			return w
		}, func(t *testing.T, fp *abi.Fingerprint) {
			if fp.GlibcFloor != "2.28" {
				t.Errorf("glibc floor %q, want 2.28", fp.GlibcFloor)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fp, err := abi.FingerprintWheel(fixtures.WriteWheel(t, dir, tt.wheel(t)))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, fp)
		})
	}
}

func TestFingerprintWheelErrors(t *testing.T) {
	dir := t.TempDir()
	good := fixtures.WriteWheel(t, dir, nativeWheel(t, "goodpkg", "1.0", map[string]string{"goodpkg/_ext.so": "glibc217"}))
	goodBytes, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	zipOf := func(name string, members []fixtures.File) string {
		data, err := fixtures.Zip(members)
		if err != nil {
			t.Fatal(err)
		}
		return write(name, data)
	}
	// A member's bytes flipped after the archive was written: its CRC-32
	// fails. The archive stores members uncompressed so the flip is in place.
	var stored bytes.Buffer
	zw := zip.NewWriter(&stored)
	for _, m := range nativeWheel(t, "flipped", "1.0", map[string]string{"flipped/_ext.so": "glibc217"}).Members() {
		wr, err := zw.CreateHeader(&zip.FileHeader{Name: m.Name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		wr.Write(m.Data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	flipped := stored.Bytes()
	elfData, _ := os.ReadFile(builtELFs(t)["glibc217"])
	i := bytes.Index(flipped, elfData[:64])
	if i < 0 {
		t.Fatal("ELF member not found in the stored archive")
	}
	flipped[i+len(elfData)-8] ^= 0xff
	noWheelFile := fixtures.PurePackage("nowheel", "1.0")
	members := noWheelFile.Members()
	members = slices.DeleteFunc(members, func(f fixtures.File) bool { return filepath.Base(f.Name) == "WHEEL" })

	tests := []struct {
		name string
		path string
		want error
	}{
		{"not a wheel name", write("notawheel.zip", goodBytes), abi.ErrWheelInvalid},
		{"not a zip", write("junk-1.0-py3-none-any.whl", []byte("hello, not a zip")), abi.ErrWheelInvalid},
		{"empty file", write("empty-1.0-py3-none-any.whl", nil), abi.ErrWheelInvalid},
		{"truncated zip", write("trunc-1.0-py3-none-any.whl", goodBytes[:len(goodBytes)/2]), abi.ErrWheelCorrupt},
		{"member checksum", write("flipped-1.0-"+nativeTag+".whl", flipped), abi.ErrWheelCorrupt},
		{"missing WHEEL", zipOf("nowheel-1.0-py3-none-any.whl", members), abi.ErrWheelInvalid},
		{"no dist-info", zipOf("nodist-1.0-py3-none-any.whl", []fixtures.File{{Name: "nodist/__init__.py", Data: []byte("")}}), abi.ErrWheelInvalid},
		{"file name tags differ from WHEEL", write("goodpkg-1.0-py3-none-any.whl", goodBytes), abi.ErrWheelMetadata},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fp, err := abi.FingerprintWheel(tt.path)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v (fingerprint %v), want %v", err, fp != nil, tt.want)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := abi.FingerprintWheel(filepath.Join(dir, "absent-1.0-py3-none-any.whl"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("err = %v, want not exist", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := abi.FingerprintWheelContext(ctx, good)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("no temporary files left", func(t *testing.T) {
		tmp := t.TempDir()
		t.Setenv("TMPDIR", tmp)
		if _, err := abi.FingerprintWheel(good); err != nil {
			t.Fatal(err)
		}
		left, _ := os.ReadDir(tmp)
		if len(left) != 0 {
			t.Errorf("left behind in TMPDIR: %v", left)
		}
	})
}

// The fingerprint does not depend on the order members were read in.
func TestFingerprintWheelDeterministic(t *testing.T) {
	p := fixtures.WriteWheel(t, t.TempDir(), nativeWheel(t, "manypkg", "1.0", map[string]string{
		"manypkg/a.so": "glibc217", "manypkg/b.so": "glibc228", "manypkg/c.so": "isa3", "manypkg/d.so": "fat-ptx80", "manypkg/e.so": "musl",
	}))
	first, err := abi.FingerprintWheel(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		again, err := abi.FingerprintWheel(p)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(first, again) {
			t.Fatalf("run %d differs:\n%+v\n%+v", i, first, again)
		}
	}
}

// FuzzFingerprintWheel: any file content gives a fingerprint or an error of
// FingerprintWheel's kinds, never a panic.
func FuzzFingerprintWheel(f *testing.F) {
	for _, w := range []fixtures.Wheel{
		fixtures.PurePackage("fz", "1.0"),
		{Name: "fz", Version: "1.0", Files: []fixtures.File{{Name: "fz/_x.so", Data: append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 80)...)}}},
	} {
		w.Name, w.Version = "fz", "1.0"
		b, err := w.Bytes()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("PK\x03\x04"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "fz-1.0-py3-none-any.whl")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		fp, err := abi.FingerprintWheel(p)
		switch {
		case err == nil && fp == nil:
			t.Fatal("no fingerprint and no error")
		case err != nil && !errors.Is(err, abi.ErrWheelCorrupt) && !errors.Is(err, abi.ErrWheelInvalid):
			t.Fatalf("error of no known kind: %v", err)
		}
	})
}
