#!/usr/bin/env bash
# CI: run every fuzz target of the module for a fixed number of inputs each.
#
#   .ci/fuzz.sh            # FUZZTIME=1000x: 1000 inputs per target
#   FUZZTIME=20000x .ci/fuzz.sh
#   FUZZTIME=60s .ci/fuzz.sh           # a wall-clock budget (see below)
#   FUZZMINIMIZETIME=60s .ci/fuzz.sh   # go test's default minimization budget
#
# The budget is a count, not a duration: with -fuzztime DURATION, Go 1.26's
# fuzzing coordinator can fail a target with a bare "context deadline
# exceeded" at the deadline, having found nothing (golang/go#75804, fixed in
# Go 1.27): its check that the deadline is the expected stop races with the
# cancellation of the workers' context, and loses most often when the
# workers are slow to answer (a loaded machine, a target at a few dozen
# inputs a second such as FuzzFingerprintWheel here). A count sets no
# deadline, so that path is never taken. A duration still works; a failure
# under one that wrote no crasher is then tried once more.
#
# Targets are found, not listed: every `func FuzzXxx` in a *_test.go file.
# A crasher makes `go test` write it under that package's testdata/fuzz/
# and fail; commit it with the fix, where it stays as a regression case.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME="${FUZZTIME:-1000x}"
# Each input that adds coverage is minimized before fuzzing goes on, for up
# to -fuzzminimizetime (go test's default: 60s). Targets whose coverage
# varies from run to run (FuzzIngest unpacks members on several goroutines)
# find such inputs every few executions, and spent a whole short pass
# minimizing one: FuzzIngest ran 50 inputs in 20 s, 4,600 with 1s.
FUZZMINIMIZETIME="${FUZZMINIMIZETIME:-1s}"
export CGO_CFLAGS="${CGO_CFLAGS:--O2 -g -Wno-deprecated-declarations}"
failed=()
count=0
module="$(go list -m)"
fuzzcache="$(go env GOCACHE)/fuzz"
bins="$(mktemp -d)"
trap 'rm -rf "$bins"' EXIT
# inputs counts the files of a fuzz corpus directory (0 when there is none).
inputs() { if [ -d "$1" ]; then find "$1" -type f | wc -l; else echo 0; fi; }
# Each package's test binary is built once, instrumented for fuzzing
# (go test -c -fuzz), and run for each of its targets from the package's
# directory, as go test runs it: same corpus under testdata/fuzz, same cache
# of generated inputs under GOCACHE. A `go test -fuzz` per target relinked
# the binary every time: 7 of the fuzz pass's 8 minutes on two cores.
fuzz() { # dir name
  (cd "$1" && "$bins/$(echo "$1" | tr / _).test" -test.run='^$' -test.fuzz="^$2\$" \
    -test.fuzztime="$FUZZTIME" -test.fuzzminimizetime="$FUZZMINIMIZETIME" \
    -test.fuzzcachedir="$fuzzcache/$module/$1" -test.parallel="${FUZZPARALLEL:-2}")
}
built=""
while IFS=: read -r file name; do
  dir="$(dirname "$file")"
  if [[ " $built " != *" $dir "* ]]; then
    go test -c -fuzz=. -o "$bins/$(echo "$dir" | tr / _).test" "./$dir"
    built="$built $dir"
  fi
  count=$((count + 1))
  echo "== ./$dir $name ($FUZZTIME)"
  corpus="$dir/testdata/fuzz/$name"
  before=$(inputs "$corpus")
  if ! fuzz "$dir" "$name"; then
    # Under a duration (see above) a failure that left no new input under
    # testdata/fuzz may be the coordinator's race: it is tried once more.
    # Under a count every failure is a real one.
    if [[ "$FUZZTIME" == *x ]] || [ "$(inputs "$corpus")" -ne "$before" ] || ! fuzz "$dir" "$name"; then
      failed+=("./$dir $name")
    fi
  fi
done < <(grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' . | sed -e 's|^\./||' -e 's|:func |:|' | sort)
echo "fuzzed $count targets, -fuzztime $FUZZTIME each; ${#failed[@]} failed"
if ((${#failed[@]})); then
  printf '  %s\n' "${failed[@]}"
  exit 1
fi
