package realstack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/forge-ml/forge/probe"
)

// forgeBin is the forge binary TestMain builds once for every test.
var forgeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "forge-realstack-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	root, _ := filepath.Abs("../..")
	if forgeBin, err = BuildForge(context.Background(), root, dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	checkDir = filepath.Join(dir, "check")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var corpusOnce = sync.OnceValues(func() (corpusDir, error) {
	root, _ := filepath.Abs("../..")
	cache, wheels, err := Corpus(context.Background(), root)
	return corpusDir{cache: cache, wheels: wheels}, err
})

type corpusDir struct {
	cache  string
	wheels []string
}

// checkOnce is the one `forge abi check` of the corpus every oracle shares
// (see ForgeCheck), in checkDir, removed by TestMain.
var (
	checkDir  string
	checkOnce = sync.OnceValues(func() (*CheckReport, error) {
		c, err := corpusOnce()
		if err != nil {
			return nil, err
		}
		py, err := probe.FindPython("3.13")
		if err != nil {
			return nil, fmt.Errorf("%w: no Python 3.13: %v", ErrSkip, err)
		}
		return ForgeCheck(context.Background(), forgeBin, checkDir, "testdata/profiles", py, c.wheels)
	})
)

// forgeCheck returns the shared report, skipping as corpus does.
func forgeCheck(t *testing.T) *CheckReport {
	t.Helper()
	rep, err := checkOnce()
	if errors.Is(err, ErrSkip) {
		t.Skipf("%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// corpus returns the real-binary corpus, skipping the test (with the reason)
// only when FORGE_REALSTACK=off or the download failed for lack of network.
func corpus(t *testing.T) corpusDir {
	t.Helper()
	c, err := corpusOnce()
	if errors.Is(err, ErrSkip) {
		t.Skipf("%v", err)
	}
	if err != nil {
		t.Fatalf("real-binary corpus: %v", err)
	}
	return c
}
