#!/usr/bin/env bash
# Builds the real-NVIDIA-binary corpus: Debian trixie's CUDA 12.4 libraries and
# CUDA torch 2.6 repacked as PyPI-shaped wheels in
# ${FORGE_REALSTACK_CACHE:-~/.cache/forge-realstack}/wheels (outside the clone).
# Idempotent: a warm cache costs a few stat calls. Prints the wheels' paths.
# Exit 3: the download failed (no network).
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./fixtures/cmd/realstack "$@"
