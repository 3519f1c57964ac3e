package abi

import (
	"debug/elf"
	"encoding/binary"
)

// arches is forge's one table of CPU architectures: the name a platform tag
// and a host profile use ("x86_64"), Go's GOARCH, the ELF machine, class
// and byte order a library for it has, and the Debian multiarch triplet of
// its loader directories (/usr/lib/<triplet>).
var arches = []struct {
	name      string
	goarch    string
	machine   elf.Machine
	class     elf.Class
	order     binary.ByteOrder // nil: the machine says it (one byte order)
	multiarch string
}{
	{"x86_64", "amd64", elf.EM_X86_64, elf.ELFCLASS64, nil, "x86_64-linux-gnu"},
	{"aarch64", "arm64", elf.EM_AARCH64, elf.ELFCLASS64, nil, "aarch64-linux-gnu"},
	{"i686", "386", elf.EM_386, elf.ELFCLASS32, nil, "i386-linux-gnu"},
	{"armv7l", "arm", elf.EM_ARM, elf.ELFCLASS32, nil, "arm-linux-gnueabihf"},
	{"ppc64le", "ppc64le", elf.EM_PPC64, elf.ELFCLASS64, binary.LittleEndian, "powerpc64le-linux-gnu"},
	{"ppc64", "ppc64", elf.EM_PPC64, elf.ELFCLASS64, binary.BigEndian, "powerpc64-linux-gnu"},
	{"s390x", "s390x", elf.EM_S390, elf.ELFCLASS64, nil, "s390x-linux-gnu"},
	{"riscv64", "riscv64", elf.EM_RISCV, elf.ELFCLASS64, nil, "riscv64-linux-gnu"},
	{"loongarch64", "loong64", elf.EM_LOONGARCH, elf.ELFCLASS64, nil, "loongarch64-linux-gnu"},
}

// ArchOfGOARCH is forge's name ("x86_64", "aarch64") for a Go GOARCH. A
// GOARCH forge has no name for is its own name; a name is its own name too
// (host profiles once said "amd64", and now say "x86_64").
func ArchOfGOARCH(goarch string) string {
	for _, a := range arches {
		if a.goarch == goarch {
			return a.name
		}
	}
	return goarch
}

// ArchELF is the ELF machine and class of a library built for arch (a
// platform-tag name). ok is false for an arch forge does not know.
func ArchELF(arch string) (m elf.Machine, c elf.Class, ok bool) {
	for _, a := range arches {
		if a.name == arch {
			return a.machine, a.class, true
		}
	}
	return elf.EM_NONE, elf.ELFCLASSNONE, false
}

// ArchMultiarch is the multiarch triplet of arch's loader directories
// ("x86_64-linux-gnu"); for an arch forge does not know, arch-linux-gnu.
func ArchMultiarch(arch string) string {
	for _, a := range arches {
		if a.name == arch {
			return a.multiarch
		}
	}
	return arch + "-linux-gnu"
}

// archOfELF is the platform-tag name of an ELF file's machine; "" when
// forge has no name for it.
func archOfELF(m elf.Machine, order binary.ByteOrder) string {
	for _, a := range arches {
		if a.machine == m && (a.order == nil || a.order == order) {
			return a.name
		}
	}
	return ""
}
