// Command agree prints how far forge's ABI engine agrees with NVIDIA's tools
// and the loader on the real-binary corpus: files compared, cubin (sm) sets
// and PTX sets agreeing with cuobjdump, verdicts agreeing with
// e2e/realstack/testdata/verdicts.txt, and ldd agreement in forge-made and
// pip-made environments. -v also prints every disagreement.
//
//	go run ./e2e/realstack/cmd/agree [-v] [-skip-loader]
//
// Run it from the repository root; it builds forge and the corpus
// (scripts/realstack.sh) first.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/forge-ml/forge/e2e/realstack"
	"github.com/forge-ml/forge/probe"
)

func main() {
	verbose := flag.Bool("v", false, "print every disagreement")
	skipLoader := flag.Bool("skip-loader", false, "skip the ldd comparison (it installs ~3.5 GB twice)")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *verbose, *skipLoader); err != nil {
		fmt.Fprintln(os.Stderr, "agree:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer, verbose, skipLoader bool) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	cache, wheels, err := realstack.Corpus(ctx, root)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "forge-agree-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	forge, err := realstack.BuildForge(ctx, root, work)
	if err != nil {
		return err
	}

	rs, err := realstack.CompareGPUCode(ctx, cache, wheels)
	if err != nil {
		return err
	}
	g := realstack.CountGPUCode(rs)
	fmt.Fprintf(w, "GPU code vs cuobjdump: %d ELF files compared (%d with GPU code)\n", g.Files, g.WithCode)
	fmt.Fprintf(w, "  sm (cubin) sets agreeing: %d/%d\n  PTX sets agreeing:        %d/%d\n  both:                     %d/%d\n",
		g.CubinAgree, g.Files, g.PTXAgree, g.Files, g.BothAgree, g.Files)
	if verbose {
		fmt.Fprint(w, realstack.GPUCodeTable(rs))
	}

	profilesDir := filepath.Join(root, "e2e/realstack/testdata/profiles")
	profiles, err := realstack.ProfileNames(profilesDir)
	if err != nil {
		return err
	}
	want, err := realstack.ParseExpectations(filepath.Join(root, "e2e/realstack/testdata/verdicts.txt"), profiles)
	if err != nil {
		return err
	}
	py, err := probe.FindPython("3.13")
	if err != nil {
		return err
	}
	check, err := realstack.ForgeCheck(ctx, forge, work, profilesDir, py, wheels)
	if err != nil {
		return err
	}
	vs := realstack.CompareVerdicts(want, check.Verdicts())
	agree := 0
	for _, v := range vs {
		if v.Agree() {
			agree++
		}
	}
	fmt.Fprintf(w, "verdicts vs verdicts.txt: %d/%d wheel × profile cells agree (%d wheels × %d profiles)\n", agree, len(vs), len(wheels), len(profiles))
	if verbose {
		fmt.Fprint(w, realstack.VerdictTable(vs))
	}

	if skipLoader {
		return nil
	}
	s := realstack.LoaderScenario{Forge: forge, Python: py, WheelsDir: filepath.Dir(wheels[0]), Work: work, Wheels: wheels, Check: func() (*realstack.CheckReport, error) { return check, nil }}
	ff, pf, err := s.Run(ctx)
	if err != nil {
		return err
	}
	for _, set := range []struct {
		name  string
		files []realstack.LoaderFile
	}{{"forge base+child", ff}, {"pip venv", pf}} {
		l := realstack.CountLoader(set.files)
		fmt.Fprintf(w, "ldd vs forge missing_library, %s: %d/%d files agree; (file, soname) pairs: ldd %d, forge %d, both %d\n",
			set.name, l.FilesAgree, l.Files, l.LddPairs, l.ForgePairs, l.Both)
		if verbose {
			fmt.Fprint(w, realstack.LoaderTable(set.files))
		}
	}
	return nil
}
