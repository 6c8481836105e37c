# kiln - plain GNU Makefile with pkg-config.
#
#   make            build build/kiln (installs Debian deps first if missing)
#   make test       unit tests + fuzz corpus replay + end-to-end tests
#   make demo       the main job end to end on generated data
#   make asan       ASan+UBSan build running the whole test suite
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
SAN     ?=
WERROR  ?= -Werror
CFLAGS  := -std=c11 -D_GNU_SOURCE $(OPT) -g -Wall -Wextra $(WERROR) -Wno-unused-parameter -Wno-format-truncation \
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

.PHONY: all deps test unit e2e demo asan bench fuzz format format-check clean headercheck tsan

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

test: all
	@bash tests/run.sh $(BUILD)

unit: all
	@$(BUILD)/kiln-tests

# end-to-end scripts only; `make e2e T=docs_examples` runs one
e2e: all
	@bash tests/run.sh $(BUILD) e2e $(T)

demo: $(BUILD)/kiln
	@bash scripts/demo.sh $(BUILD)

asan:
	$(MAKE) BUILD=build-asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

bench: all
	@bash bench/run.sh $(BUILD)

FUZZ_BUILD := build-fuzz
FUZZ_SECONDS ?= 30
fuzz: $(DEPS_STAMP)
	@bash tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# ThreadSanitizer (fault18, issue 18): the unit suites that run threads
# (the thread pool, the Parquet writer's column and page tasks and the
# readers' row-group claims, the engine job, the in-process HTTP server and
# client) and the end-to-end tests that run threads: the engine's parallel
# job, models --threads, the columnar executor, kiln serve under concurrent
# webhooks. (truncated:: maps a file that shrinks: SIGBUS under TSan.)
# docs/testing.md has the runtime.
TSAN_UNIT ?= base parquet gh_events gh_job serve net
TSAN_E2E ?= job_gh_events_parquet models_threads exec_explain serve_webhooks
tsan:
	$(MAKE) BUILD=build-tsan OPT=-O1 SAN="-fsanitize=thread -fno-omit-frame-pointer" all
	@export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 $${TSAN_OPTIONS:-}"; \
	  for s in $(TSAN_UNIT); do build-tsan/kiln-tests -s $$s > build-tsan/unit-$$s.log 2>&1 || \
	    { tail -n 40 build-tsan/unit-$$s.log; exit 1; }; tail -n 1 build-tsan/unit-$$s.log; done; \
	  for t in $(TSAN_E2E); do bash tests/run.sh build-tsan e2e $$t || exit 1; done

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
