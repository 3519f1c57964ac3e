#!/usr/bin/env bash
# Smoke test of a built forge binary: the main user path, in a throw-away
# FORGE_HOME, checked from Python's side. Any failing step stops the run with
# its output and a non-zero exit.
#
#   scripts/smoke.sh BINARY
#   PYTHON=3.11 scripts/smoke.sh ./dist/forge
#   WHEELS=DIR scripts/smoke.sh BINARY          # demo wheels already written
#   FORGE_VERSION=1.2.0 scripts/smoke.sh BINARY # forge version must say so
#
# PYTHON (X.Y or a path, default 3.12) is the interpreter of the smoke
# environment. WHEELS is a directory written by
# `go run ./fixtures/cmd/demo-wheels -python PYTHON DIR`; without it the
# script writes one (which needs Go and this source tree).
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: scripts/smoke.sh BINARY" >&2
  exit 2
fi
F="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
[ -x "$F" ] || { echo "smoke: $1 is not an executable" >&2; exit 2; }
cd "$(dirname "$0")/.."
PY="${PYTHON:-3.12}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/forge-smoke.XXXXXX")"
# Environments and the store are made read-only in places: make them
# writable again before removing the work directory.
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
export FORGE_HOME="$WORK/home" NO_COLOR=1
unset VIRTUAL_ENV PYTHONPATH PYTHONHOME

steps=0
# step NAME CMD...: runs CMD; on failure prints its output and stops.
step() {
  local name="$1"
  shift
  steps=$((steps + 1))
  printf '%-28s' "$name"
  if ! "$@" >"$WORK/out" 2>&1; then
    echo "FAILED"
    echo "smoke: step '$name' failed: $*" >&2
    sed 's/^/  | /' "$WORK/out" >&2
    exit 1
  fi
  echo ok
}
# expect WANT CMD...: runs CMD, which must succeed and print WANT.
expect() {
  local want="$1"
  shift
  "$@" >"$WORK/got" 2>&1 || { cat "$WORK/got"; return 1; }
  grep -qF -- "$want" "$WORK/got" || { cat "$WORK/got"; echo "(wanted: $want)"; return 1; }
  cat "$WORK/got"
}
# fails CMD...: CMD must fail.
fails() {
  if "$@"; then echo "(succeeded, wanted a failure)"; return 1; fi
}

if [ -z "${WHEELS:-}" ]; then
  WHEELS="$WORK/wheels"
  step "write demo wheels" go run ./fixtures/cmd/demo-wheels -python "$PY" "$WHEELS"
fi
DEMO="$(ls "$WHEELS"/demo-1.0-*.whl)"
NATIVE="$(ls "$WHEELS"/fastmod-*.whl 2>/dev/null || true)"

step "version" expect "forge ${FORGE_VERSION:-}" "$F" version
step "probe" expect "python:" "$F" probe --python "$PY"
step "create" expect "created smoke" "$F" create smoke --python "$PY"
step "install" expect "installed demo 1.0" "$F" install --env smoke "$WHEELS"/*.whl
step "import" expect "demo 1.0" "$F" run --env smoke -- python -c \
  'import demo, importlib.metadata as m; print("demo", m.version("demo"))'
step "console script" "$F" run --env smoke -- demo-cli
if [ -n "$NATIVE" ]; then
  step "native extension" "$F" run --env smoke -- python -c 'import fastmod'
fi
step "tree" expect "demo" "$F" tree --env smoke
step "lock" "$F" lock --env smoke -o "$WORK/pylock.toml"
step "lock file" expect "name = 'demo'" cat "$WORK/pylock.toml"
step "abi check" expect "accept" "$F" abi check --python "$PY" "$DEMO"
if [ -n "$NATIVE" ]; then
  step "abi check (native)" expect "accept" "$F" abi check --python "$PY" "$NATIVE"
fi
step "doctor" expect "no issues found" "$F" doctor
step "uninstall" expect "removed demo 1.0" "$F" uninstall demo --env smoke
step "import after uninstall" fails "$F" run --env smoke -- python -c 'import demo'
step "gc" expect "demo" "$F" gc --force
step "env rm" "$F" env rm smoke
step "env gone" fails test -e "$FORGE_HOME/envs/smoke"
step "doctor after" expect "no issues found" "$F" doctor
echo "smoke: ok ($steps steps, $F)"
