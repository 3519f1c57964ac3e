package abi

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// container is a minimal fatbin container of one 64-byte cubin entry
// header with an empty payload, for the scanner's own tests.
func container(sm uint32, flags uint64) []byte {
	b := make([]byte, 16+64)
	le := binary.LittleEndian
	le.PutUint32(b, FatbinMagic)
	le.PutUint16(b[4:], 1)
	le.PutUint16(b[6:], 16)
	le.PutUint64(b[8:], 64)
	e := b[16:]
	le.PutUint16(e, FatbinKindCubin)
	le.PutUint32(e[4:], 64)
	le.PutUint32(e[28:], sm)
	le.PutUint64(e[40:], flags)
	return b
}

func TestScanSectionAcrossWindows(t *testing.T) {
	// A container that straddles the scan window, one whose magic is split
	// across it, and one after: all three found, nothing twice.
	data := make([]byte, scanWindow+4096)
	copy(data[scanWindow-40:], container(80, 0x2011))
	data2 := append(data, make([]byte, 5)...)
	copy(data2[len(data)-2:], container(90, 0x102011)[:2])
	data2 = append(data2[:len(data)-2], append(container(90, 0x102011), container(70, 0x11)...)...)
	var s fatbinScan
	if err := s.scanSection(bytes.NewReader(data2), int64(len(data2))); err != nil {
		t.Fatal(err)
	}
	got := dedupeCode(s.code)
	var names []string
	for _, c := range got {
		names = append(names, c.String())
	}
	if s.containers != 3 || len(names) != 3 || names[0] != "sm_70" || names[1] != "sm_80" || names[2] != "sm_90a" {
		t.Errorf("containers %d, code %v; want 3 containers, sm_70 sm_80 sm_90a", s.containers, names)
	}
}

func TestScanSectionBounded(t *testing.T) {
	// Many tiny containers: the entry budget stops the scan, the code is
	// kept deduplicated, nothing grows with the input.
	one := container(80, 0x11)
	data := bytes.Repeat(one, 20000)
	s := fatbinScan{entries: maxFatbinEntries - 100}
	if err := s.scanSection(bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if s.containers > 101 || len(dedupeCode(s.code)) != 1 {
		t.Errorf("read %d containers past the budget, %d distinct entries", s.containers, len(dedupeCode(s.code)))
	}
}

// FuzzScanSection: any section content gives code or a recorded problem,
// never a panic, and never more entries than the budget.
func FuzzScanSection(f *testing.F) {
	f.Add(container(80, 0x2011))
	f.Add(append(container(90, 0x102011), container(52, 0x11)...))
	f.Add([]byte("\x50\xed\x55\xba\x01\x00\x10\x00\xff\xff\xff\xff\xff\xff\xff\xff"))
	lying := container(80, 0)
	binary.LittleEndian.PutUint32(lying[16+4:], 8)
	f.Add(lying)
	f.Fuzz(func(t *testing.T, data []byte) {
		var s fatbinScan
		if err := s.scanSection(bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		if s.entries > maxFatbinEntries+1 {
			t.Fatalf("%d entries read", s.entries)
		}
	})
}
