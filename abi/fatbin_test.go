package abi_test

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"github.com/forge-ml/forge/abi"
	"github.com/forge-ml/forge/fixtures"
)

func TestParseFatbin(t *testing.T) {
	two := append(fixtures.Fatbin(fixtures.FatbinSpec{Kind: "cubin", SM: 70}), 0, 0, 0, 0, 0, 0, 0, 0)
	two = append(two, fixtures.Fatbin(fixtures.FatbinSpec{Kind: "ptx", SM: 120, PTXVersion: "8.7", ArchSpecific: true})...)
	for _, tc := range []struct {
		name string
		data []byte
		want []string
	}{
		{"cubins and ptx", fixtures.Fatbin(
			fixtures.FatbinSpec{Kind: "cubin", SM: 80},
			fixtures.FatbinSpec{Kind: "cubin", SM: 90, ArchSpecific: true},
			fixtures.FatbinSpec{Kind: "ptx", SM: 90, PTXVersion: "8.4"}),
			[]string{"sm_80 ", "sm_90a ", "compute_90 8.4"}},
		{"compressed keeps the a suffix in the flags", fixtures.Fatbin(fixtures.FatbinSpec{Kind: "cubin", SM: 90, ArchSpecific: true, Compressed: true}),
			[]string{"sm_90a "}},
		{"compressed without the flag cannot say a", fixtures.Fatbin(fixtures.FatbinSpec{Kind: "cubin", SM: 90, ArchSpecific: true, Compressed: true, NoArchFlag: true}),
			[]string{"sm_90 "}},
		{"uncompressed without the flag: from the payload", fixtures.Fatbin(fixtures.FatbinSpec{Kind: "cubin", SM: 90, ArchSpecific: true, NoArchFlag: true}),
			[]string{"sm_90a "}},
		{"unknown kind kept as unknown", fixtures.Fatbin(fixtures.FatbinSpec{Kind: "cubin", SM: 80, RawKind: 8, Compressed: true}),
			[]string{"kind8:sm_80 "}},
		{"two containers with padding", two, []string{"sm_70 ", "compute_120a 8.7"}},
		{"ptx version from text when header has none", fixtures.Fatbin(fixtures.FatbinSpec{Kind: "ptx", SM: 75,
			Payload: []byte(".version 7.8\n.target sm_75\n")}), []string{"compute_75 7.8"}},
		{"empty", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := abi.ParseFatbin(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, e := range got {
				s = append(s, e.String()+" "+e.PTXVersion)
			}
			if !slices.Equal(s, tc.want) {
				t.Errorf("= %q, want %q", s, tc.want)
			}
		})
	}
}

func TestParseFatbinMalformed(t *testing.T) {
	good := fixtures.Fatbin(fixtures.FatbinSpec{Kind: "cubin", SM: 80}, fixtures.FatbinSpec{Kind: "ptx", SM: 80, PTXVersion: "8.0"})
	mut := func(f func(b []byte) []byte) []byte { return f(slices.Clone(good)) }
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"bad magic", mut(func(b []byte) []byte { b[0] = 1; return b })},
		{"truncated header", good[:10]},
		{"truncated container", good[:len(good)-8]},
		{"container size huge", mut(func(b []byte) []byte { binary.LittleEndian.PutUint64(b[8:], 1<<63); return b })},
		{"entry header size small", mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[16+4:], 8); return b })},
		{"entry header size huge", mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[16+4:], 1<<31); return b })},
		{"payload size huge", mut(func(b []byte) []byte { binary.LittleEndian.PutUint64(b[16+8:], 1<<63); return b })},
		{"garbage after container", append(slices.Clone(good), 7, 7, 7)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := abi.ParseFatbin(tc.data); !errors.Is(err, abi.ErrFatbin) {
				t.Errorf("err = %v, want ErrFatbin", err)
			}
		})
	}
}

func TestRunsOn(t *testing.T) {
	cubin := func(sm int, a bool) abi.FatbinEntry {
		return abi.FatbinEntry{Kind: abi.KindCubin, SM: sm, ArchSpecific: a}
	}
	ptx := func(sm int) abi.FatbinEntry { return abi.FatbinEntry{Kind: abi.KindPTX, SM: sm} }
	for _, tc := range []struct {
		e            abi.FatbinEntry
		major, minor int
		ok, jit      bool
	}{
		{cubin(80, false), 8, 0, true, false},
		{cubin(80, false), 8, 6, true, false},
		{cubin(86, false), 8, 0, false, false},
		{cubin(80, false), 9, 0, false, false},
		{cubin(70, false), 7, 5, true, false},
		{cubin(90, true), 9, 0, true, false},
		{cubin(90, true), 9, 1, false, false},
		{ptx(80), 9, 0, true, true},
		{ptx(80), 7, 0, false, true},
		{ptx(120), 12, 0, true, true},
	} {
		ok, jit := tc.e.RunsOn(tc.major, tc.minor)
		if ok != tc.ok || (ok && jit != tc.jit) {
			t.Errorf("%s on %d.%d = %v,%v; want %v,%v", tc.e, tc.major, tc.minor, ok, jit, tc.ok, tc.jit)
		}
	}
}

func FuzzParseFatbin(f *testing.F) {
	f.Add(fixtures.Fatbin(fixtures.FatbinSpec{Kind: "cubin", SM: 80}, fixtures.FatbinSpec{Kind: "ptx", SM: 90, PTXVersion: "8.4", ArchSpecific: true}))
	f.Add(fixtures.Fatbin(fixtures.FatbinSpec{Kind: "cubin", SM: 90, Compressed: true}))
	f.Add([]byte{0x50, 0xed, 0x55, 0xba, 1, 0, 16, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := abi.ParseFatbin(data)
		if err != nil && !errors.Is(err, abi.ErrFatbin) {
			t.Fatalf("error %v does not wrap ErrFatbin", err)
		}
		if len(entries) > len(data)/48+1 {
			t.Fatalf("%d entries from %d bytes", len(entries), len(data))
		}
	})
}
