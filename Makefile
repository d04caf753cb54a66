# The two commands of the README: `make run` and `make test`.
# Everything else here serves them or the developer's loop.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
CMAKE_GEN  := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")
SOURCES     = $(shell git ls-files -co --exclude-standard -- 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' 'bench/*.c' 'bench/*.h' 2>/dev/null)

.PHONY: all build deps run test test-only asan asan-only fuzz format format-check clean bench cluster cluster-down

all: build

deps:
	@scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

run: deps build
	mkdir -p data
	$(BUILD)/pace serve --listen 127.0.0.1:8080 --data-dir ./data

# Every test: the formatting check first (cheap: a misformatted file stops
# the run before anything is built), then unit, store contract, API, fuzz
# (short run), then the whole suite again under ASan+UBSan. Sub-makes keep
# that order under make -j too.
test: deps
	@$(MAKE) --no-print-directory format-check
	@$(MAKE) --no-print-directory build fuzz
	cd $(BUILD) && ctest --output-on-failure -j 2
	cd $(FUZZ_BUILD) && ctest --output-on-failure -R '^fuzz/'
	$(MAKE) --no-print-directory asan-only

# The C tests and API tests only (no dependency install, no fuzzing).
test-only: build
	cd $(BUILD) && ctest --output-on-failure -j 2

asan: deps asan-only

asan-only:
	cmake -S . -B $(ASAN_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DPACE_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j 2

fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPACE_FUZZ=ON
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $$(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$$//')

format:
	clang-format -i $(SOURCES)

# Every C source and header of src/ and tests/ as .clang-format says; lists
# the files that differ and fails, changing nothing (make format fixes them).
format-check:
	@clang-format --dry-run --Werror $(SOURCES)
	@echo "format-check: $(words $(SOURCES)) files ok"

bench: build
	bench/run.sh

# The production topology on this machine (scripts/cluster.sh): nginx on
# 127.0.0.1:8088 in front of 3 pace instances, a worker, a PostgreSQL
# primary + streaming replica and Redis; state and logs in ./cluster.
cluster: deps build
	PACE_BIN=$(BUILD)/pace scripts/cluster.sh up

cluster-down:
	scripts/cluster.sh down

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
