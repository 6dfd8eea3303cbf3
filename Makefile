# Entry points (SPEC §7). Every target installs what is missing first.
.PHONY: bootstrap build test check test-main test-asan test-tsan fuzz-build fuzz-smoke fuzz demo bench soak unit \
        integration e2e addon clean

PRESET ?= default
BUILD_DIR ?= build

bootstrap:
	@scripts/bootstrap

build: bootstrap
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build --preset $(PRESET)

# `make test` is what CI runs (.ci/run): the whole suite in build/, the whole suite again under
# ASan+UBSan (build-asan/), the unit and integration tests under TSan (build-tsan/), and a
# 30-second libFuzzer smoke of every fuzz target (build-fuzz/). Any sanitizer report fails it.
# `make check` is the first stage alone, for quick local runs. Stages and times: docs/security.md.
test: test-main test-asan test-tsan fuzz-smoke

check: test-main

test-main: build
	@cd $(BUILD_DIR) && ctest --output-on-failure --timeout 600 $(CTEST_ARGS)

# Sanitizer trees (presets asan, tsan: -O1, line tables). scripts/sanitized-ctest sets the
# sanitizer options and fails on any report of any process. No Node-API addon there (no js.addon,
# addon.symbols): docs/security.md. Unit tests run as two gtest shards side by side (tests/CMakeLists.txt), the
# process-level suites one at a time. TSAN_LABELS: what runs under TSan besides the unit tests.
NPROC := $(shell nproc)
test-asan: bootstrap
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan
	@scripts/sanitized-ctest asan --timeout 900 -L unit -j $(NPROC) $(CTEST_ARGS)
	@scripts/sanitized-ctest asan --timeout 900 -LE unit $(CTEST_ARGS)

TSAN_LABELS ?= integration
test-tsan: bootstrap
	@cmake --preset tsan >/dev/null
	@cmake --build --preset tsan
	@scripts/sanitized-ctest tsan --timeout 900 -L unit -j $(NPROC) $(CTEST_ARGS)
	@scripts/sanitized-ctest tsan --timeout 900 -L '$(TSAN_LABELS)' $(CTEST_ARGS)

# libFuzzer (preset fuzz: clang++-16, ASan+UBSan): fuzz-smoke runs every target for
# FUZZ_SMOKE_SECONDS over its seeds (ctest -L fuzz); `make fuzz` for FUZZ_SECONDS each
# (scripts/fuzz; new inputs kept in build-fuzz/fuzz/corpus/, crashes in build-fuzz/fuzz/artifacts/).
FUZZ_SMOKE_SECONDS ?= 30
FUZZ_SECONDS ?= 300
fuzz-build: bootstrap
	@cmake --preset fuzz -DCMUX_FUZZ_SMOKE_SECONDS=$(FUZZ_SMOKE_SECONDS) >/dev/null
	@cmake --build --preset fuzz

fuzz-smoke: fuzz-build
	@ctest --test-dir build-fuzz --output-on-failure -L fuzz -j $(NPROC)

fuzz: fuzz-build
	@scripts/fuzz $(FUZZ_SECONDS)

unit: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -L unit

integration: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -L integration

e2e: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -L e2e

# Only the Node-API addon (build/lib/cmux_proxy.node) and its symbol check (docs/addon-build.md).
addon: bootstrap
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build --preset $(PRESET) --target cmux_proxy_addon
	@scripts/check-addon-symbols $(BUILD_DIR)/lib/cmux_proxy.node

demo: build
	@scripts/demo $(DEMO)

bench: build
	@scripts/bootstrap --bench
	@bench/run

# RSS growth of both proxies under steady mixed load (SPEC §6: < 5 %); not in CI.
SOAK_DURATION ?= 1800
soak: build
	@bench/run --soak --soak-duration $(SOAK_DURATION)

clean:
	rm -rf build build-asan build-tsan build-fuzz
