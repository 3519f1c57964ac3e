package reliability

import (
	"context"
	"strings"
	"testing"
)

// TestConcurrency runs -concurrency.procs forge processes at once for
// -concurrency.duration over shared environments and one store.
func TestConcurrency(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs forge for seconds from many processes")
	}
	var log strings.Builder
	rep, err := RunConcurrency(context.Background(), ConcurrencyOptions{
		Bin: forgeBin, Dir: workDir(t), Python: testPython(t), Procs: *concProcs, Duration: *concDur, Seed: 1, Log: &log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d processes × %.0f s: %d operations %v, %d lock waits, %d lost races; %d entries, %d manifests at the end",
		rep.Procs, rep.Seconds, rep.Operations, rep.ByOp, rep.LockWaits, rep.LostRaces, rep.Entries, rep.Manifests)
	for _, e := range rep.Errors {
		t.Errorf("operation failed: %s", e)
	}
	for _, p := range rep.Problems {
		t.Errorf("after the run: %s", p)
	}
	for _, is := range rep.Issues {
		t.Errorf("doctor after the run: %s", is)
	}
	if rep.ByOp["install"] == 0 || rep.ByOp["gc"] == 0 || rep.ByOp["uninstall"] == 0 {
		t.Errorf("operations %v: the mix did not run", rep.ByOp)
	}
}
