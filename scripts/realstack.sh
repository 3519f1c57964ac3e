#!/usr/bin/env bash
# Builds the real-NVIDIA-binary corpus: Debian trixie's CUDA 12.4 libraries and
# CUDA torch 2.6 repacked as PyPI-shaped wheels in
# ${FORGE_REALSTACK_CACHE:-~/.cache/forge-realstack}/wheels (outside the clone).
# Idempotent: a warm cache costs a few stat calls. Prints the wheels' paths.
# Exit 3: the download failed (no network).
set -euo pipefail
cd "$(dirname "$0")/.."
# go build, not go run: go run turns every failure into exit 1, and callers
# (e2e/realstack) tell "no network" (3) from a real failure.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/realstack" ./fixtures/cmd/realstack
"$tmp/realstack" "$@"
