// Command crash runs forge's crash-safety harness: it kills forge with
// SIGKILL at random points of install, uninstall, create, env rm and gc
// --force, and after each kill checks that doctor --fix repairs everything,
// that no store directory is incomplete, that SQLite agrees with the
// filesystem and that Python sees every package fully or not at all.
//
//	go run ./reliability/crash -trials 200 -parallel 2
//
// It prints one line per trial (with -v) and a JSON summary; exit status 1
// when a trial failed.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/forge-ml/forge/reliability"
)

func main() {
	trials := flag.Int("trials", 200, "number of trials")
	parallel := flag.Int("parallel", 2, "trials run at once (each worker has its own forge home)")
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "random seed (printed in the summary)")
	python := flag.String("python", "3.12", "interpreter for the environments: a path or X.Y")
	bin := flag.String("forge", "", "forge binary (default: build ./cmd/forge)")
	dir := flag.String("dir", "", "work directory (default: a new temporary directory, removed at the end)")
	maxDelay := flag.Duration("max-delay", 0, "kill window per operation (default: calibrated, 1.3x the longest of three uninterrupted runs)")
	verbose := flag.Bool("v", false, "print one line per trial")
	ops := flag.String("ops", "", "comma-separated operations to try (default: all of install, uninstall, create, env-rm, gc)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	work, forge, cleanup, err := reliability.Workspace(*dir, "forge-crash-", *bin)
	if err != nil {
		fail(err)
	}
	defer cleanup()
	*bin = forge
	o := reliability.CrashOptions{Bin: *bin, Dir: work, Python: *python, Trials: *trials, Parallel: *parallel, Seed: *seed, MaxDelay: *maxDelay}
	if *verbose {
		o.Log = os.Stderr
	}
	if *ops != "" {
		o.Ops = strings.Split(*ops, ",")
	}
	rep, err := reliability.RunCrash(ctx, o)
	if rep != nil {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Println(string(b))
	}
	if err != nil {
		fail(err)
	}
	if rep.Passed != rep.Trials {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "crash:", err)
	os.Exit(1)
}
