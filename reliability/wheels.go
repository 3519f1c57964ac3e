package reliability

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"

	"github.com/forge-ml/forge/fixtures"
)

// Dist is one distribution of the harness wheel set and how Python sees it.
type Dist struct {
	Name   string // distribution name, for importlib.metadata
	Module string // import name; module.VERSION is the version
}

// WheelSet is the harness' wheels, written to one directory.
type WheelSet struct {
	Dir   string
	Paths []string          // every wheel file
	ByKey map[string]string // "name-version" -> path
	Dists []Dist
}

// bigMembers and bigMemberSize make rel-big large enough (about 3 MiB of
// incompressible data in 400 files) that a kill often lands mid-extract.
const (
	bigMembers    = 400
	bigMemberSize = 8 << 10
)

// bigPackage is a pure wheel with many incompressible members.
func bigPackage(version string) fixtures.Wheel {
	w := fixtures.PurePackage("rel-big", version, fixtures.WithoutScripts())
	var seed [32]byte
	copy(seed[:], "forge reliability rel-big "+version)
	rng := rand.NewChaCha8(seed)
	for i := range bigMembers {
		data := make([]byte, bigMemberSize)
		rng.Read(data)
		w.Files = append(w.Files, fixtures.File{Name: fmt.Sprintf("rel_big/data/d%02d/f%04d.bin", i%20, i), Data: data})
	}
	return w
}

// WriteWheels writes the harness wheel set into dir: small pure packages
// in two versions (replacing an entry), a package with every .data
// category, the large rel-big in two versions, and when gcc is present the
// namespace pair nsroot-alpha/nsroot-beta, whose shared top-level directory
// makes the linker split a link.
func WriteWheels(dir string) (*WheelSet, error) {
	ws := &WheelSet{Dir: dir, ByKey: map[string]string{}}
	wheels := []fixtures.Wheel{
		fixtures.PurePackage("rel-a", "1.0"),
		fixtures.PurePackage("rel-a", "2.0"),
		fixtures.PurePackage("rel-b", "1.0"),
		fixtures.DataPackage("rel-data", "1.0"),
		bigPackage("1.0"),
		bigPackage("2.0"),
	}
	ws.Dists = []Dist{{"rel-a", "rel_a"}, {"rel-b", "rel_b"}, {"rel-data", "rel_data"}, {"rel-big", "rel_big"}}
	if fixtures.HaveGCC() {
		alpha, beta, err := fixtures.NamespacePair()
		if err != nil {
			return nil, err
		}
		wheels = append(wheels, alpha, beta)
		ws.Dists = append(ws.Dists, Dist{"nsroot-alpha", "nsroot.alpha"}, Dist{"nsroot-beta", "nsroot.beta"})
	}
	for _, w := range wheels {
		p, err := w.WriteTo(dir)
		if err != nil {
			return nil, err
		}
		ws.Paths = append(ws.Paths, p)
		ws.ByKey[w.Name+"-"+w.Version] = p
	}
	return ws, nil
}

// Name returns the distribution name of a wheel path of the set.
func (ws *WheelSet) Name(path string) string {
	for k, p := range ws.ByKey {
		if p == path {
			for _, d := range ws.Dists {
				if len(k) > len(d.Name) && k[:len(d.Name)+1] == d.Name+"-" {
					return d.Name
				}
			}
		}
	}
	return filepath.Base(path)
}
