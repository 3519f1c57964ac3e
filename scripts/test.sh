#!/usr/bin/env bash
# Runs every test: vet, the unit and end-to-end suites (real interpreters,
# real gcc-built ELF files, real pip), and a short fuzz pass over every parser.
set -euo pipefail
cd "$(dirname "$0")/.."
export CGO_CFLAGS="${CGO_CFLAGS:--O2 -g -Wno-deprecated-declarations}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
go vet ./...
unformatted="$(gofmt -l $(git ls-files '*.go'))"
if [ -n "$unformatted" ]; then echo "gofmt needed:"; echo "$unformatted"; exit 1; fi
go test -timeout 20m ./...
if [ -x .ci/fuzz.sh ]; then FUZZTIME="${FUZZTIME:-3s}" .ci/fuzz.sh; fi
