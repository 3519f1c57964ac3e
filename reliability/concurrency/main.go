// Command concurrency runs forge's concurrency harness: many forge
// processes at once doing install, uninstall, gc --force, doctor, create and
// env rm over shared environments and one shared store, then a check that
// nothing drifted.
//
//	go run ./reliability/concurrency -procs 8 -duration 60s
//
// It prints a JSON summary; exit status 1 when an operation failed with
// anything but a lost race, or a check failed.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/forge-ml/forge/reliability"
)

func main() {
	procs := flag.Int("procs", 8, "forge processes running at once")
	duration := flag.Duration("duration", 60*time.Second, "how long new operations start")
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "random seed (printed in the summary)")
	python := flag.String("python", "3.12", "interpreter for the environments: a path or X.Y")
	bin := flag.String("forge", "", "forge binary (default: build ./cmd/forge)")
	dir := flag.String("dir", "", "work directory (default: a new temporary directory, removed at the end)")
	verbose := flag.Bool("v", false, "print failed operations as they happen")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	work, forge, cleanup, err := reliability.Workspace(*dir, "forge-concurrency-", *bin)
	if err != nil {
		fail(err)
	}
	defer cleanup()
	*bin = forge
	o := reliability.ConcurrencyOptions{Bin: *bin, Dir: work, Python: *python, Procs: *procs, Duration: *duration, Seed: *seed}
	if *verbose {
		o.Log = os.Stderr
	}
	rep, err := reliability.RunConcurrency(ctx, o)
	if rep != nil {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Println(string(b))
	}
	if err != nil {
		fail(err)
	}
	if !rep.OK() {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "concurrency:", err)
	os.Exit(1)
}
