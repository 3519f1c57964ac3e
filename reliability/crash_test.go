package reliability

import (
	"context"
	"strings"
	"testing"
)

// TestCrash kills forge at random points of install, uninstall, create, env
// rm and gc --force and checks each home afterwards (see Check). The CI
// size is -crash.trials (20); go run ./reliability/crash runs 200 or more.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the crash harness runs forge hundreds of times")
	}
	var log strings.Builder
	rep, err := RunCrash(context.Background(), CrashOptions{
		Bin: forgeBin, Dir: workDir(t), Python: testPython(t), Trials: *crashTrials, Parallel: 2, Seed: 1, Log: &log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d trials, %d passed, %d killed; by operation: %v; kill windows %v\n%s", rep.Trials, rep.Passed, rep.Killed, opStats(rep), rep.Calib, log.String())
	if rep.Trials != *crashTrials {
		t.Errorf("ran %d trials, want %d", rep.Trials, *crashTrials)
	}
	for _, f := range rep.Failures {
		t.Error(f)
	}
	if rep.Killed == 0 {
		t.Error("no run was killed: the kill windows are too short to test anything")
	}
}

func opStats(rep *CrashReport) map[string]OpStats {
	out := map[string]OpStats{}
	for k, v := range rep.ByOp {
		out[k] = *v
	}
	return out
}
