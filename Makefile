# Signet's entry points. `make demo` and `make test` are the README's two set-up
# commands: each installs what it needs (apt-get, skipped when present) and builds.
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo

.PHONY: all deps build demo test test-asan bench package fuzz clean

all: build

deps:
	bash scripts/deps.sh build

build: deps
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j$(JOBS)

demo: build
	bash scripts/demo.sh $(BUILD)/signer/signet

test:
	bash scripts/deps.sh test
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) -DSIGNET_TESTS=ON
	cmake --build $(BUILD) -j$(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)
	$(MAKE) test-asan

# The whole suite again under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan:
	bash scripts/deps.sh test
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSIGNET_SANITIZE=ON -DSIGNET_TESTS=ON
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	# Unit and integration tests with full allocation stacks through libcrypto
	# (fast_unwind_on_malloc=0), so that only SoftHSM2's own leaks are suppressed.
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j$(JOBS) -E '^cli$$'
	# The end-to-end suite runs hundreds of signet processes: fast stacks, which
	# stop at libcrypto (see tests/lsan-e2e.supp).
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan-e2e.supp \
	  UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -R '^cli$$'

bench:
	bash scripts/deps.sh bench
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) -DSIGNET_BENCH=ON
	cmake --build $(BUILD) -j$(JOBS)
	bash tests/bench/run.sh $(BUILD)

package: build
	bash scripts/deps.sh package
	cd $(BUILD) && cpack -G DEB

# libFuzzer targets (clang), each run FUZZ_SECONDS (default 600).
fuzz:
	bash scripts/fuzz.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) .demo
