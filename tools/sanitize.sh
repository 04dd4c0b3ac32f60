#!/usr/bin/env bash
# Build itercore with AddressSanitizer + UndefinedBehaviorSanitizer into a
# virtual environment of its own and run the test suite under it.
#
#   tools/sanitize.sh                    # the whole suite
#   tools/sanitize.sh tests/test_bad_input.py -x   # any pytest arguments
#
# Environment:
#   SANITIZE_DIR    where the venv and the build go (default: build/sanitize)
#   SANITIZE_DEPS   a site-packages folder holding numpy, scipy, pytest,
#                   hypothesis and the build tools (scikit-build-core,
#                   pybind11, cmeel-eigen, cmake, ninja); by default the one of
#                   the python that runs this script (what is missing there is
#                   pip-installed into the new venv). "install": pip-install
#                   everything into the new venv (needs the network).
#   PYTHON          the interpreter (default: python3, or $VIRTUAL_ENV's)
#
# The extension is compiled with -fsanitize=address,undefined (UBSan errors
# are fatal: -fno-sanitize-recover) at -O1 with frame pointers; Python itself
# is not instrumented, so libasan is preloaded (LD_PRELOAD). Leak detection is
# off: CPython keeps memory until exit by design. An error report aborts the
# test process; the script's exit status is pytest's (non-zero on any report).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
dir="${SANITIZE_DIR:-$repo/build/sanitize}"
py="${PYTHON:-${VIRTUAL_ENV:+$VIRTUAL_ENV/bin/python}}"
py="${py:-python3}"
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"

compiler="${CXX:-c++}"
libasan="$("$compiler" -print-file-name=libasan.so)"
if [ ! -e "$libasan" ]; then
  echo "sanitize.sh: libasan.so not found for $compiler (install the compiler's sanitizer runtime)" >&2
  exit 2
fi

if [ ! -x "$dir/venv/bin/python" ]; then
  "$py" -m venv "$dir/venv"
fi
venv_py="$dir/venv/bin/python"
if [ "${SANITIZE_DEPS:-}" = "install" ]; then
  "$venv_py" -m pip install -q numpy scipy pytest hypothesis scikit-build-core pybind11 cmake ninja
else
  deps="${SANITIZE_DEPS:-$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')}"
  site="$("$venv_py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  # the dependencies only: a .pth line adds the folder without running its own .pth files
  # (so an editable itercore installed there stays out of the way)
  echo "$deps" > "$site/zz_sanitize_deps.pth"
  export PATH="$(dirname "$py"):$PATH"  # cmake and ninja of the dependencies' environment
fi
# the build requirements (pyproject.toml) are not installed in a venv made by `pip install .`
# (build isolation): fetch them into the sanitizer venv when missing (needs the network)
if ! "$venv_py" -c "import scikit_build_core, pybind11, cmeel, numpy, scipy, pytest, hypothesis" 2>/dev/null; then
  "$venv_py" -m pip install -q "scikit-build-core>=0.10" "pybind11>=2.12" "cmeel-eigen>=3.4" cmake ninja \
    numpy scipy pytest hypothesis threadpoolctl
fi

echo "sanitize.sh: building with $flags into $dir (this takes a while)"
start=$(date +%s)
"$venv_py" -m pip install --no-build-isolation --no-deps -q \
  -Cbuild-dir="$dir/build" \
  -Ccmake.build-type=RelWithDebInfo \
  -Ccmake.define.CMAKE_CXX_FLAGS="$flags" \
  -Ccmake.define.CMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -Ccmake.define.CMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" \
  -Ccmake.define.CMAKE_MODULE_LINKER_FLAGS="-fsanitize=address,undefined" \
  .
echo "sanitize.sh: built in $(( $(date +%s) - start )) s"

# the instrumented extension needs the ASan runtime loaded first, and libstdc++ loaded before
# ASan sets up its interceptors (else its __cxa_throw interceptor finds no real __cxa_throw and
# every C++ exception aborts with "CHECK failed: ... real___cxa_throw")
libstdcxx="$("$compiler" -print-file-name=libstdc++.so)"
export LD_PRELOAD="$libasan $(readlink -f "$libstdcxx")"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:print_summary=1:detect_stack_use_after_return=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export ITERCORE_SANITIZED=1  # tests may skip what cannot run under the sanitizers (none today)
cd "$repo/tests"  # import the installed itercore, not the source tree
"$venv_py" -c 'import itercore, itercore._core as c; print("sanitize.sh:", c.__file__); print("sanitize.sh:", c.build_info()["cxx_flags"])'

start=$(date +%s)
set +e
"$venv_py" -m pytest -q -p no:cacheprovider "${@:-.}"
rc=$?
set -e
echo "sanitize.sh: pytest exit $rc after $(( $(date +%s) - start )) s"
exit "$rc"
