# kiln - plain GNU Makefile with pkg-config.
#
#   make            build build/kiln (installs Debian deps first if missing)
#   make test       unit tests + fuzz corpus replay + end-to-end tests
#   make demo       the main job end to end on generated data
#   make asan       ASan+UBSan build running the whole test suite (KILN_TEST_SET=quick: CI's subset)
#   make bench      benchmarks against named peers (DuckDB, decompression)
#   make fuzz       libFuzzer targets (clang), FUZZ_SECONDS (default 30) each
#   make tsan       ThreadSanitizer build running the threaded tests (TSAN_E2E)
#   make format     clang-format the sources
#
# BUILD=dir puts every output in another directory (asan uses build-asan).

BUILD   ?= build
CC      ?= cc
PKGS    := zlib libisal libdeflate libzstd snappy sqlite3 jansson libpcre2-8 yaml-0.1 libcrypto libcurl libedit libmicrohttpd
OPT     ?= -O2
# debug info: -g for the developer's build; the sanitizer builds use -g1
# (line tables: reports keep file:line, compiling ASan+UBSan is ~30% faster)
DEBUGINFO ?= -g
SAN     ?=
WERROR  ?= -Werror
CFLAGS  := -std=c11 -D_GNU_SOURCE $(OPT) $(DEBUGINFO) -Wall -Wextra $(WERROR) -Wno-unused-parameter -Wno-format-truncation \
           -fno-strict-aliasing -pthread $(SAN) -Isrc -Itests $(EXTRA_CFLAGS)
LDLIBS  := -pthread -lm
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

LIB_SRC  := $(sort $(shell find src -name '*.c' -not -path 'src/cli/*'))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(shell find tests/unit -name '*.c')) $(sort $(wildcard tests/fuzz/fuzz_*.c)) tests/harness/harness.c
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/obj/%.o)
DEPS_STAMP := $(BUILD)/.deps-stamp

.PHONY: all deps test unit e2e demo asan asan-build bench fuzz format format-check clean headercheck tsan tsan-build

all: $(BUILD)/kiln $(BUILD)/kiln-tests

deps: $(DEPS_STAMP)
$(DEPS_STAMP): scripts/deps.sh tests/node/package.json
	@mkdir -p $(BUILD)
	@bash scripts/deps.sh
	@touch $@

$(BUILD)/obj/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC $<"
	@$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libkiln.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The CLI objects are linked directly (not from an archive) so each
# command file's constructor registers its command.
$(BUILD)/kiln: $(CLI_OBJ) $(BUILD)/libkiln.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libkiln.a $(PKG_LIBS) $(LDLIBS)

$(BUILD)/kiln-tests: $(TEST_OBJ) $(BUILD)/libkiln.a
	$(CC) $(CFLAGS) -o $@ $(TEST_OBJ) $(BUILD)/libkiln.a $(PKG_LIBS) $(LDLIBS)

# KILN_TEST_JOBS=2 runs the unit suite as two shards beside the e2e scripts
test: all
	@bash tests/run.sh $(BUILD)

unit: all
	@$(BUILD)/kiln-tests

# end-to-end scripts only; `make e2e T=docs_examples` runs one
e2e: all
	@bash tests/run.sh $(BUILD) e2e $(T)

demo: $(BUILD)/kiln
	@bash scripts/demo.sh $(BUILD)

ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_MAKE = $(MAKE) BUILD=build-asan OPT=-O1 DEBUGINFO=-g1 SAN="$(ASAN_FLAGS)"
# asan-build / tsan-build only compile (.ci/run starts them in the
# background, niced, while the plain suite runs)
asan-build:
	$(ASAN_MAKE) all
# Sanitizer reports also go to build-asan/san-reports/ (log_path), which
# tests/run.sh checks: a script that expects kiln to fail still fails the run
# when kiln failed with a report.
asan: asan-build
	@rm -rf build-asan/san-reports && mkdir -p build-asan/san-reports
	@KILN_SAN_LOG_DIR="$(CURDIR)/build-asan/san-reports" \
	  ASAN_OPTIONS="log_path=$(CURDIR)/build-asan/san-reports/asan $${ASAN_OPTIONS:-}" \
	  UBSAN_OPTIONS="print_stacktrace=1 log_path=$(CURDIR)/build-asan/san-reports/ubsan $${UBSAN_OPTIONS:-}" \
	  bash tests/run.sh build-asan

bench: all
	@bash bench/run.sh $(BUILD)

FUZZ_BUILD := build-fuzz
FUZZ_SECONDS ?= 30
fuzz: $(DEPS_STAMP)
	@bash tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# ThreadSanitizer (issue 18): the unit suites that run threads (the thread
# pool, the Parquet writer's column and page tasks and the readers'
# row-group claims, the engine job, the in-process HTTP server and client)
# and the end-to-end tests that run threads: the engine's parallel job,
# models --threads, the columnar executor, kiln serve under concurrent
# webhooks. build-tsan/kiln-tests links only TSAN_UNIT_SRC (the files of
# those suites), so the build compiles the library, the CLI and six test
# files. Every report fails the run: halt_on_error, and the reports go to
# build-tsan/tsan-reports/ which tests/run.sh checks (a script that expects
# kiln to fail would otherwise pass). docs/testing.md has the runtime.
# (truncated:: maps a file that shrinks: SIGBUS under TSan, so not here.)
# Whole suites where most tests run threads; single tests where only they do
# (most parquet:: tests write and read with one thread, and take 4x longer
# under TSan for nothing).
TSAN_UNIT ?= base gh_events gh_job serve net parquet::threads_give_identical_files \
             gh_gen::deterministic_across_threads decimal::alloc_fault_countdown_is_exact_across_threads \
             gzip_read::fifo_two_members gzip_read::fifo_truncated
TSAN_UNIT_SRC ?= tests/unit/base/test_base.c tests/unit/format/test_parquet.c tests/unit/engine/test_gh_events.c \
                 tests/unit/engine/test_gh_job.c tests/unit/serve/test_serve.c tests/unit/net/test_http.c \
                 tests/unit/engine/test_gh_gen.c tests/unit/lake/test_decimal.c tests/unit/format/test_gzip_read_pipe.c
TSAN_E2E ?= job_gh_events_parquet models_threads exec_explain serve_webhooks
TSAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer
tsan-build:
	$(MAKE) BUILD=build-tsan OPT=-O1 DEBUGINFO=-g1 SAN="$(TSAN_FLAGS)" \
	  TEST_SRC="$(TSAN_UNIT_SRC) tests/harness/harness.c" all
tsan: tsan-build
	@rm -rf build-tsan/tsan-reports && mkdir -p build-tsan/tsan-reports
	@KILN_SAN_LOG_DIR="$(CURDIR)/build-tsan/tsan-reports" \
	  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 log_path=$(CURDIR)/build-tsan/tsan-reports/tsan $${TSAN_OPTIONS:-}" \
	  KILN_UNIT_ARGS="$(TSAN_UNIT:%=-s %)" KILN_TEST_E2E="$(TSAN_E2E)" bash tests/run.sh build-tsan

FORMAT_FILES = $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' 'bench/*.c' 'bench/*.h')
format:
	clang-format -i $(FORMAT_FILES)

# fails (and shows the diff) when a source file is not as `make format` leaves it
format-check: $(DEPS_STAMP)
	@clang-format --dry-run -Werror $(FORMAT_FILES) && echo "format-check: every source file is formatted"

headercheck: $(DEPS_STAMP)
	@for h in $$(find src -name '*.h'); do \
	  echo "#include \"$${h#src/}\"" | $(CC) $(CFLAGS) $(PKG_CFLAGS) -x c -fsyntax-only - || exit 1; \
	done; echo "headercheck: every header compiles on its own"

clean:
	rm -rf build build-asan build-fuzz build-tsan

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d)
