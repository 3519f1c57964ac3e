package abi_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/fixtures"
	"github.com/forge-ml/forge/wheel"
)

// BenchmarkReadELF fingerprints a real gcc-built shared object (versioned
// glibc references, SONAME, RUNPATH), as ingest does for every ELF member.
func BenchmarkReadELF(b *testing.B) {
	if !fixtures.HaveGCC() {
		b.Skip("gcc/objcopy not on PATH: no real ELF to read")
	}
	p, err := fixtures.BuildSharedObject(b.TempDir(), fixtures.SharedObject{
		Name: "libbench.so", Soname: "libbench.so", Runpath: "$ORIGIN",
		Refs: []fixtures.SymbolRef{{Symbol: "memcpy", Version: "GLIBC_2.14"}, {Symbol: "clock_gettime", Version: "GLIBC_2.17"}},
	})
	if err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		b.Fatal(err)
	}
	r := bytes.NewReader(data)
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		e, problems := abi.ReadELF("pkg/libbench.so", r, int64(len(data)))
		if len(problems) > 0 || e.Soname != "libbench.so" {
			b.Fatalf("unexpected result: %+v %v", e, problems)
		}
	}
}

// BenchmarkFingerprintBuilder adds 100 ELF members concurrently-safe and
// summarises, as one native wheel's ingest does.
func BenchmarkFingerprintBuilder(b *testing.B) {
	if !fixtures.HaveGCC() {
		b.Skip("gcc/objcopy not on PATH: no real ELF to read")
	}
	p, err := fixtures.BuildSharedObject(b.TempDir(), fixtures.SharedObject{Name: "libfp.so", Soname: "libfp.so"})
	if err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		b.Fatal(err)
	}
	wf, err := wheel.ParseFilename("benchpkg-1.0-py3-none-manylinux_2_17_x86_64.whl")
	if err != nil {
		b.Fatal(err)
	}
	r := bytes.NewReader(data)
	for i := 0; i < b.N; i++ {
		fb := abi.NewFingerprintBuilder(wf)
		for j := 0; j < 100; j++ {
			fb.AddELF("benchpkg/lib/libfp.so", r, int64(len(data)))
		}
		fb.Finish(100)
	}
}
