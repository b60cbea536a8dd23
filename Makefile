# dsv4 — the two set-up commands:
#   make run   installs what is missing, builds, and runs the main job on the built-in default model
#   make test  installs what is missing, builds, and runs the whole CPU test suite through ctest
MAKEFLAGS += --no-print-directory
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
DSV4 = $(BUILD_DIR)/dsv4
DEFAULT_MODEL = $(BUILD_DIR)/models/default

.PHONY: all setup configure build build-run run test clean

all: build

setup:
	@scripts/setup.sh

configure: setup
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# Only what the main job needs: the CLI and the built-in default model.
build-run: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target dsv4 default_model

run: build-run
	@scripts/run_default.sh $(DSV4) $(DEFAULT_MODEL)

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD_DIR)
