package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/forge-ml/forge/fixtures"
)

// A corpus is a set of wheel files installed together in one command.
type corpus struct {
	Name   string
	Wheels []string
	Bytes  int64 // unpacked size declared by the generator (0 for --wheels)
}

// corpusVersion changes whenever generation changes, so cached corpora of
// an older generator are not reused.
const corpusVersion = "v1"

// nativeTag is supported by every CPython 3 interpreter on a manylinux
// (glibc ≥ 2.17) x86_64 host, so the corpus does not depend on --python.
const nativeTag = "py3-none-manylinux_2_17_x86_64"

// loadCorpus builds (or finds in cache) the named corpus.
func loadCorpus(cache, name string, scale float64) (*corpus, error) {
	dir := filepath.Join(cache, "corpora", fmt.Sprintf("%s-s%g-%s", name, scale, corpusVersion))
	if wheels, err := readDone(dir); err == nil {
		return &corpus{Name: name, Wheels: wheels}, nil
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	libs, err := gccLibs(filepath.Join(cache, "gcc"))
	if err != nil {
		return nil, err
	}
	g := &generator{dir: dir, libs: libs}
	switch name {
	case "large":
		err = g.large(scale)
	case "many":
		err = g.many()
	case "mixed":
		err = g.mixed(scale)
	case "scale":
		err = g.tiny(5000)
	case "rollback":
		err = g.rollbackSet()
	default:
		return nil, fmt.Errorf("unknown corpus %q (large, many, mixed)", name)
	}
	if err != nil {
		return nil, fmt.Errorf("corpus %s: %w", name, err)
	}
	sort.Strings(g.wheels)
	var names []string
	for _, w := range g.wheels {
		names = append(names, filepath.Base(w))
	}
	if err := os.WriteFile(filepath.Join(dir, "complete"), []byte(strings.Join(names, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	return &corpus{Name: name, Wheels: g.wheels}, nil
}

func readDone(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "complete"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range strings.Fields(string(b)) {
		out = append(out, filepath.Join(dir, n))
	}
	return out, nil
}

// wheelsIn is a corpus of every *.whl in dir (--wheels).
func wheelsIn(dir string) (*corpus, error) {
	ws, err := filepath.Glob(filepath.Join(dir, "*.whl"))
	if err != nil || len(ws) == 0 {
		return nil, fmt.Errorf("--wheels %s: no *.whl files", dir)
	}
	abs, _ := filepath.Abs(dir)
	sort.Strings(ws)
	return &corpus{Name: "wheels:" + filepath.Base(abs), Wheels: ws}, nil
}

type generator struct {
	dir    string
	libs   [][]byte // real gcc-built shared objects
	wheels []string
}

func (g *generator) begin(name, version, tag string) (*wheelWriter, string, error) {
	dist := strings.ReplaceAll(name, "-", "_")
	p := filepath.Join(g.dir, fmt.Sprintf("%s-%s-%s.whl", dist, version, tag))
	w, err := newWheelWriter(p, fmt.Sprintf("%s-%s.dist-info", dist, version))
	return w, p, err
}

func (g *generator) finish(w *wheelWriter, p, name, version, tag string) error {
	if err := w.distInfoFiles(name, version, tag, strings.HasSuffix(tag, "-any")); err != nil {
		w.abort()
		return err
	}
	if err := w.close(); err != nil {
		w.abort()
		return err
	}
	g.wheels = append(g.wheels, p)
	return nil
}

// nativeWheel writes a torch-like wheel: a few very large shared libraries
// (a real gcc-built ELF followed by semi-compressible filler, so that
// fingerprinting reads real ELF structures), real small .so files, and many
// Python sources and headers.
func (g *generator) nativeWheel(name string, bigMiB []float64, small int) error {
	return g.nativeWheelVersion(name, "2.4.0", bigMiB, small)
}

// nativeWheelVersion is nativeWheel of a given version.
func (g *generator) nativeWheelVersion(name, version string, bigMiB []float64, small int) error {
	w, p, err := g.begin(name, version, nativeTag)
	if err != nil {
		return err
	}
	pkg := strings.ReplaceAll(name, "-", "_")
	for i, mib := range bigMiB {
		lib := g.libs[i%len(g.libs)]
		size := int64(mib*(1<<20)) - int64(len(lib))
		if size < 0 {
			size = 0
		}
		r := io.MultiReader(strings.NewReader(string(lib)), newBlob(fmt.Sprintf("%s-big-%d", name, i), size))
		if err := w.add(fmt.Sprintf("%s/lib/lib%s_big%d.so", pkg, pkg, i), 0o755, r); err != nil {
			w.abort()
			return err
		}
	}
	for i, lib := range g.libs {
		if err := w.addBytes(fmt.Sprintf("%s/lib/libsmall%d.so", pkg, i), 0o755, lib); err != nil {
			w.abort()
			return err
		}
	}
	rng := rand.New(rand.NewPCG(seed(name), 1))
	for i := 0; i < small; i++ {
		sub := fmt.Sprintf("%s/sub%02d/mod%02d", pkg, i%40, (i/40)%25)
		var name string
		var size int
		switch k := i % 20; {
		case k < 14:
			name, size = fmt.Sprintf("%s/f%05d.py", sub, i), 2000+rng.IntN(26000)
		case k < 19:
			name, size = fmt.Sprintf("%s/f%05d.h", sub, i), 1000+rng.IntN(12000)
		default:
			name, size = fmt.Sprintf("%s/f%05d.pyi", sub, i), 500+rng.IntN(4000)
		}
		if err := w.addBytes(name, 0o644, source(rng, size)); err != nil {
			w.abort()
			return err
		}
	}
	if err := w.addBytes(pkg+"/__init__.py", 0o644, []byte("VERSION = '"+version+"'\n")); err != nil {
		w.abort()
		return err
	}
	return g.finish(w, p, name, version, nativeTag)
}

// pureWheel writes a pure-Python wheel of n files of a few KiB.
func (g *generator) pureWheel(name string, n, maxSize int) error {
	const version, tag = "1.0", "py3-none-any"
	w, p, err := g.begin(name, version, tag)
	if err != nil {
		return err
	}
	pkg := strings.ReplaceAll(name, "-", "_")
	rng := rand.New(rand.NewPCG(seed(name), 2))
	if err := w.addBytes(pkg+"/__init__.py", 0o644, []byte("NAME = '"+name+"'\n")); err != nil {
		w.abort()
		return err
	}
	for i := 1; i < n; i++ {
		if err := w.addBytes(fmt.Sprintf("%s/m%03d/mod%04d.py", pkg, i%8, i), 0o644, source(rng, 500+rng.IntN(maxSize))); err != nil {
			w.abort()
			return err
		}
	}
	return g.finish(w, p, name, version, tag)
}

// large: one torch-like wheel, ≈1 GiB unpacked at scale 1 (860 MiB in four
// large libraries, ≈150 MiB in ~10,000 sources and headers).
func (g *generator) large(scale float64) error {
	big := []float64{420 * scale, 260 * scale, 120 * scale, 60 * scale}
	return g.nativeWheel("torchlike", big, max(100, int(10000*scale)))
}

// many: 200 small pure wheels of 50 files.
func (g *generator) many() error {
	for i := 0; i < 200; i++ {
		if err := g.pureWheel(fmt.Sprintf("many-pkg-%03d", i), 47, 6000); err != nil {
			return err
		}
	}
	return nil
}

// mixed: one mid-size native wheel, four mid-size pure wheels, 60 small ones.
func (g *generator) mixed(scale float64) error {
	if err := g.nativeWheel("mixednative", []float64{90 * scale, 40 * scale}, max(50, int(1500*scale))); err != nil {
		return err
	}
	for i := 0; i < 4; i++ {
		if err := g.pureWheel(fmt.Sprintf("mixed-pure-%d", i), 400, 20000); err != nil {
			return err
		}
	}
	for i := 0; i < 60; i++ {
		if err := g.pureWheel(fmt.Sprintf("mixed-small-%02d", i), 17, 4000); err != nil {
			return err
		}
	}
	return nil
}

// rollbackSet: a torch-sized environment of 30 wheels, ≈20,000 files:
// a native torch-like wheel in two versions (2.4.0 and 2.5.0; ≈6,000
// files and 12 MiB of libraries each) and 29 pure wheels of 480 files.
func (g *generator) rollbackSet() error {
	for _, v := range []string{"2.4.0", "2.5.0"} {
		if err := g.nativeWheelVersion("rbtorch", v, []float64{8, 4}, 6000); err != nil {
			return err
		}
	}
	for i := 0; i < 29; i++ {
		if err := g.pureWheel(fmt.Sprintf("rb-pkg-%02d", i), 480, 3000); err != nil {
			return err
		}
	}
	return nil
}

// tiny: n one-module wheels, for the store-scaling figure.
func (g *generator) tiny(n int) error {
	for i := 0; i < n; i++ {
		if err := g.pureWheel(fmt.Sprintf("sc-%04d", i), 1, 300); err != nil {
			return err
		}
	}
	return nil
}

func seed(s string) uint64 {
	h := sha256.Sum256([]byte(s))
	var v uint64
	for _, b := range h[:8] {
		v = v<<8 | uint64(b)
	}
	return v
}

var words = strings.Fields(`self return tensor device kernel import def class module value dtype
shape stride buffer grad forward backward parameter optimizer torch cuda stream event
launch config assert raise none true false list dict tuple int float str bytes`)

// source is size bytes of Python-like text (compresses about 4:1, as real
// sources do).
func source(rng *rand.Rand, size int) []byte {
	var b strings.Builder
	b.Grow(size + 80)
	for b.Len() < size {
		fmt.Fprintf(&b, "def %s_%d(%s, %s=%d):\n    return %s.%s(%s)\n\n",
			words[rng.IntN(len(words))], rng.IntN(100000), words[rng.IntN(len(words))], words[rng.IntN(len(words))], rng.IntN(1000),
			words[rng.IntN(len(words))], words[rng.IntN(len(words))], words[rng.IntN(len(words))])
	}
	return []byte(b.String()[:size])
}

// blob is a deterministic, semi-compressible stream: 32 KiB blocks, four in
// ten random (machine code and weights compress poorly), the rest symbol
// table-like text. Whole it deflates to roughly half its size.
type blob struct {
	rng   *rand.ChaCha8
	pick  *rand.Rand
	left  int64
	text  []byte
	block []byte
	pos   int
}

const blobBlock = 32 << 10

func newBlob(name string, size int64) *blob {
	var s [32]byte
	h := sha256.Sum256([]byte(name))
	copy(s[:], h[:])
	b := &blob{rng: rand.NewChaCha8(s), pick: rand.New(rand.NewPCG(seed(name), 3)), left: size, block: make([]byte, blobBlock)}
	b.pos = len(b.block)
	var t strings.Builder
	for t.Len() < 4*blobBlock {
		fmt.Fprintf(&t, "_ZN5torch%d%s%dE%s_%x\x00", b.pick.IntN(20), words[b.pick.IntN(len(words))], b.pick.IntN(1000), words[b.pick.IntN(len(words))], b.pick.IntN(1<<20))
	}
	b.text = []byte(t.String())
	return b
}

func (b *blob) Read(p []byte) (int, error) {
	if b.left == 0 {
		return 0, io.EOF
	}
	if b.pos == len(b.block) {
		if b.pick.IntN(10) < 4 {
			b.rng.Read(b.block)
		} else {
			off := b.pick.IntN(len(b.text) - blobBlock)
			copy(b.block, b.text[off:])
		}
		b.pos = 0
	}
	n := copy(p, b.block[b.pos:])
	if int64(n) > b.left {
		n = int(b.left)
	}
	b.pos += n
	b.left -= int64(n)
	return n, nil
}

// gccLibs builds a few real shared objects with gcc (cached), so that
// ingest fingerprints real ELF files: versioned glibc references, a
// SONAME, a RUNPATH.
func gccLibs(dir string) ([][]byte, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	specs := []fixtures.SharedObject{
		{Name: "libbench0.so", Soname: "libbench0.so", Refs: []fixtures.SymbolRef{{Symbol: "memcpy", Version: "GLIBC_2.14"}}},
		{Name: "libbench1.so", Soname: "libbench1.so", Refs: []fixtures.SymbolRef{{Symbol: "clock_gettime", Version: "GLIBC_2.17"}}, Runpath: "$ORIGIN"},
		{Name: "libbench2.so", Soname: "libbench2.so", Source: "double forge_scale(double x) { return x * 3.5; }\n"},
		{Name: "libbench3.so", Soname: "libbench3.so", Refs: []fixtures.SymbolRef{{Symbol: "malloc", Version: "GLIBC_2.2.5"}}},
	}
	var out [][]byte
	for _, so := range specs {
		p := filepath.Join(dir, so.Name)
		b, err := os.ReadFile(p)
		if err != nil {
			if _, err := fixtures.BuildSharedObject(dir, so); err != nil {
				return nil, err
			}
			if b, err = os.ReadFile(p); err != nil {
				return nil, err
			}
		}
		out = append(out, b)
	}
	return out, nil
}
