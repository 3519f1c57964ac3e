#!/usr/bin/env bash
# Runs every test: vet, the unit and end-to-end suites (real interpreters,
# real gcc-built ELF files, real pip), and a short fuzz pass over every parser.
set -euo pipefail
cd "$(dirname "$0")/.."
export CGO_CFLAGS="${CGO_CFLAGS:--O2 -g -Wno-deprecated-declarations}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
# cmd/forge's TestBashCompletion sources cobra's bash script in a real bash;
# the script needs the bash-completion library. Install it where we can.
if [ ! -f /usr/share/bash-completion/bash_completion ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  { apt-get install -y -qq bash-completion || { apt-get update -qq && apt-get install -y -qq bash-completion; }; } >/dev/null 2>&1 || true
fi
# e2e's TestShellActivation enters environments in zsh and fish too (it
# skips a shell that is absent).
if { ! command -v zsh >/dev/null || ! command -v fish >/dev/null; } && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  { apt-get install -y -qq zsh fish || { apt-get update -qq && apt-get install -y -qq zsh fish; }; } >/dev/null 2>&1 || true
fi
# Build the real-NVIDIA-binary corpus (e2e/realstack) while vet and the
# other packages compile: on a fresh machine it is a 1.3 GB download and a
# few minutes of unpacking. The test waits on the corpus's own file lock, and
# builds it itself (or skips without network) when this did not.
if [ "${FORGE_REALSTACK:-}" != off ]; then
  scripts/realstack.sh >/dev/null 2>&1 &
fi
go vet ./...
unformatted="$(gofmt -l $(git ls-files '*.go'))"
if [ -n "$unformatted" ]; then echo "gofmt needed:"; echo "$unformatted"; exit 1; fi
go test -timeout 20m ./...
if [ -x .ci/fuzz.sh ]; then FUZZTIME="${FUZZTIME:-500x}" .ci/fuzz.sh; fi
echo "ok: all tests passed ($(((SECONDS + 30) / 60)) min)"
