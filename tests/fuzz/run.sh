#!/usr/bin/env bash
# `make fuzz`: build every tests/fuzz/fuzz_*.c as a libFuzzer binary (clang,
# ASan) and run each for SECONDS against its stored corpus. New inputs go to
# BUILD/corpus-new/<name>/, never straight into the stored corpus: merge the
# ones worth keeping with libFuzzer's -merge=1 so the stored corpus stays
# small. `make test` replays tests/fuzz/corpus/.
set -euo pipefail
BUILD="${1:-build-fuzz}"
SECONDS_EACH="${2:-30}"
ROOT="$(cd "$(dirname "$0")/.." && cd .. && pwd)"
cd "$ROOT"
FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer"
# WERROR= : clang warns where gcc (the -Werror build) does not; warnings must
# not stop fuzzing (they are fixed in the gcc build's terms)
make -s -j2 BUILD="$BUILD" CC=clang OPT=-O1 WERROR= SAN="$FLAGS" EXTRA_CFLAGS="-DKILN_LIBFUZZER -Wno-unknown-warning-option" "$BUILD/libkiln.a"
PKGS="zlib libisal libdeflate libzstd snappy sqlite3 jansson libpcre2-8 yaml-0.1 libcrypto libcurl libedit libmicrohttpd"
for f in tests/fuzz/fuzz_*.c; do
  [ -e "$f" ] || continue
  name="$(basename "$f" .c)"; name="${name#fuzz_}"
  mkdir -p "tests/fuzz/corpus/$name" "$BUILD/fuzz" "$BUILD/corpus-new/$name"
  clang -std=c11 -D_GNU_SOURCE -DKILN_LIBFUZZER -O1 -g -fsanitize=fuzzer,address,undefined \
    -Isrc -Itests $(pkg-config --cflags $PKGS) "$f" "$BUILD/libkiln.a" \
    $(pkg-config --libs $PKGS) -pthread -lm -o "$BUILD/fuzz/$name"
  echo "fuzz: $name for ${SECONDS_EACH}s"
  LSAN_OPTIONS="suppressions=$ROOT/tests/fuzz/lsan.supp ${LSAN_OPTIONS:-}" "$BUILD/fuzz/$name" -max_total_time="$SECONDS_EACH" -max_len=65536 "$BUILD/corpus-new/$name" "tests/fuzz/corpus/$name" 2>&1 | tail -n 3
done
