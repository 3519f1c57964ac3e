package abi

import (
	"debug/elf"
	"encoding/binary"
	"testing"
)

func TestArchTable(t *testing.T) {
	for _, tc := range []struct {
		goarch, name string
		machine      elf.Machine
		class        elf.Class
		order        binary.ByteOrder
		multiarch    string
	}{
		{"amd64", "x86_64", elf.EM_X86_64, elf.ELFCLASS64, binary.LittleEndian, "x86_64-linux-gnu"},
		{"arm64", "aarch64", elf.EM_AARCH64, elf.ELFCLASS64, binary.LittleEndian, "aarch64-linux-gnu"},
		{"386", "i686", elf.EM_386, elf.ELFCLASS32, binary.LittleEndian, "i386-linux-gnu"},
		{"ppc64le", "ppc64le", elf.EM_PPC64, elf.ELFCLASS64, binary.LittleEndian, "powerpc64le-linux-gnu"},
		{"ppc64", "ppc64", elf.EM_PPC64, elf.ELFCLASS64, binary.BigEndian, "powerpc64-linux-gnu"},
		{"s390x", "s390x", elf.EM_S390, elf.ELFCLASS64, binary.BigEndian, "s390x-linux-gnu"},
		{"loong64", "loongarch64", elf.EM_LOONGARCH, elf.ELFCLASS64, binary.LittleEndian, "loongarch64-linux-gnu"},
	} {
		t.Run(tc.goarch, func(t *testing.T) {
			if got := ArchOfGOARCH(tc.goarch); got != tc.name {
				t.Errorf("ArchOfGOARCH(%q) = %q, want %q", tc.goarch, got, tc.name)
			}
			if got := ArchOfGOARCH(tc.name); got != tc.name {
				t.Errorf("ArchOfGOARCH(%q) = %q: a platform name is its own", tc.name, got)
			}
			if m, c, ok := ArchELF(tc.name); !ok || m != tc.machine || c != tc.class {
				t.Errorf("ArchELF(%q) = %v %v %v, want %v %v", tc.name, m, c, ok, tc.machine, tc.class)
			}
			if got := archOfELF(tc.machine, tc.order); got != tc.name {
				t.Errorf("archOfELF(%v, %v) = %q, want %q", tc.machine, tc.order, got, tc.name)
			}
			if got := ArchMultiarch(tc.name); got != tc.multiarch {
				t.Errorf("ArchMultiarch(%q) = %q, want %q", tc.name, got, tc.multiarch)
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		if got := ArchOfGOARCH("mips"); got != "mips" {
			t.Errorf("ArchOfGOARCH(mips) = %q", got)
		}
		if _, _, ok := ArchELF("mips"); ok {
			t.Error("ArchELF(mips) is known")
		}
		if got := ArchMultiarch("mips"); got != "mips-linux-gnu" {
			t.Errorf("ArchMultiarch(mips) = %q", got)
		}
		if got := archOfELF(elf.EM_MIPS, binary.BigEndian); got != "" {
			t.Errorf("archOfELF(EM_MIPS) = %q", got)
		}
	})
}
