# Kindred's front door. `make` installs what is missing and builds into
# build/; `make test` runs the whole suite; `make demo` tells the story.
BUILD_DIR ?= build
JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: all deps configure build test demo bench clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD_DIR)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS)

configure: deps $(BUILD_DIR)/CMakeCache.txt

build: configure
	cmake --build $(BUILD_DIR) -j$(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) --timeout 600

demo: build
	@bash scripts/demo.sh $(BUILD_DIR)/bin/kindred

# Every benchmark, one after another (a few minutes; docs/performance.md
# has the figures and how to run one alone).
bench: build
	set -e; for b in engine_bench sync_bench plugin_bench calendar_bench rituals_bench; do \
	  echo "== $$b"; $(BUILD_DIR)/bin/$$b; done

clean:
	rm -rf $(BUILD_DIR)
