# Entry points (SPEC §7). Every target installs what is missing first.
.PHONY: bootstrap build test demo bench unit integration e2e addon clean

PRESET ?= default
BUILD_DIR ?= build

bootstrap:
	@scripts/bootstrap

build: bootstrap
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build --preset $(PRESET)

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure --timeout 600 $(CTEST_ARGS)

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
	@scripts/demo

bench: build
	@scripts/bootstrap --bench
	@bench/run

clean:
	rm -rf build build-asan
