#!/usr/bin/env bash
# Builds forge into ./bin, writes demo wheels, and runs forge's main job:
# create an environment, install wheels into the shared store, use them.
set -euo pipefail
cd "$(dirname "$0")/.."
export CGO_CFLAGS="${CGO_CFLAGS:--O2 -g -Wno-deprecated-declarations}"
PY="${PYTHON:-3.12}"
go build -o bin/forge ./cmd/forge
export FORGE_HOME="${FORGE_HOME:-$PWD/.quickstart/home}"
WHEELS="$PWD/.quickstart/wheels"
rm -rf "$FORGE_HOME" "$WHEELS"
go run ./fixtures/cmd/demo-wheels -python "$PY" "$WHEELS" >/dev/null
set -x
bin/forge probe --python "$PY"
bin/forge create demo --python "$PY"
bin/forge install --env demo "$WHEELS"/*.whl
bin/forge run --env demo -- demo-cli
bin/forge run --env demo -- python -c 'import demo, importlib.metadata as m; print(demo.hello(), m.version("demo"))'
bin/forge create demo2 --parent demo
bin/forge install --env demo2 "$WHEELS"/demo-*.whl       # reused from the store, shadows nothing new
bin/forge tree --env demo2
bin/forge abi matrix --env demo --profiles fixtures/profiles || true   # exit 3: some hosts refuse
bin/forge doctor
