# The two commands of the README: `make bench` (the main job) and `make test`.
# Both first make sure a GPU adapter exists: on a machine without one (no Vulkan driver)
# they install Mesa's software Vulkan driver, lavapipe (needs root and apt-get).

export XDG_RUNTIME_DIR ?= /tmp
CARGO ?= cargo

PYTHON ?= python3

.PHONY: all setup build test lint python python-test python-bench wasm-target wasm-bindgen-cli web browser serve web-model examples bench peers validate info criterion clean

all: test

setup:
	@bash .ci/ensure-gpu.sh

build: setup
	$(CARGO) build --release

# Every test: CPU reference vs PyTorch fixtures and finite differences, every GPU kernel
# variant vs the reference, CLI behaviour, and a run of the criterion benches in CI size.
# tests/web.rs loads the page (web/dist) in headless Chromium, on WebGPU and on the CPU path.
test: setup lint web browser
	$(CARGO) test --release
	$(MAKE) python-test
	$(MAKE) examples
	CI=$${CI:-true} $(CARGO) bench --bench kernels -- --warm-up-time 0.1 --measurement-time 0.2 --sample-size 10

# Habits that need no GPU: formatting, lints (native and browser builds), the API docs, and
# the library built for the browser (wasm32, without the default `native` feature).
WASM = --lib --target wasm32-unknown-unknown --no-default-features
lint: wasm-target
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets -- -D warnings
	$(CARGO) clippy $(WASM) -- -D warnings
	$(CARGO) clippy --release -p wgpu-rnn-web --target wasm32-unknown-unknown -- -D warnings
	$(CARGO) clippy --release -p wgpu-rnn-python -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --lib
	$(CARGO) build $(WASM)

wasm-target:
	@rustup target list --installed | grep -qx wasm32-unknown-unknown \
		|| rustup target add wasm32-unknown-unknown

# The browser page in web/dist: the engine (web/, wasm32) with wasm-bindgen's JS glue, the
# static files and the trained checkpoint of web/static. wasm-bindgen-cli must be the exact
# version of the wasm-bindgen crate in Cargo.lock, so it is installed when missing or
# different (without --locked: the registry mirror lacks some of its locked dependencies).
WASM_BINDGEN_VERSION = $(shell awk '$$1 == "name" && $$3 == "\"wasm-bindgen\"" {getline; gsub(/"/, "", $$3); print $$3}' Cargo.lock)
web: wasm-target wasm-bindgen-cli
	$(CARGO) build --release -p wgpu-rnn-web --target wasm32-unknown-unknown
	rm -rf web/dist.new && mkdir -p web/dist.new
	wasm-bindgen --target web --no-typescript --out-dir web/dist.new \
		target/wasm32-unknown-unknown/release/wgpu_rnn_web.wasm
	cp web/static/* web/dist.new/
	rm -rf web/dist && mv web/dist.new web/dist

wasm-bindgen-cli:
	@test -n "$(WASM_BINDGEN_VERSION)" || { echo "no wasm-bindgen in Cargo.lock" >&2; exit 1; }
	@[ "$$(wasm-bindgen --version 2>/dev/null | awk '{print $$2}')" = "$(WASM_BINDGEN_VERSION)" ] \
		|| $(CARGO) install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION)

# The Python package (python/: pyo3 + maturin, numpy): `pip install ./python`, as the
# README says. python-test runs pytest over it; its torch equivalence tests need torch,
# installed here when missing (a large download: the default wheel carries CUDA libraries).
python: setup
	$(PYTHON) -m pip install --quiet ./python

python-test: python
	@$(PYTHON) -c "import pytest" 2>/dev/null || $(PYTHON) -m pip install --quiet pytest
	@$(PYTHON) -c "import torch" 2>/dev/null || { echo "installing torch for the equivalence tests"; \
		start=$$(date +%s); $(PYTHON) -m pip install --quiet torch; \
		echo "torch installed in $$(( $$(date +%s) - start )) s"; }
	cd python/tests && $(PYTHON) -m pytest -q .

python-bench: python
	$(PYTHON) benches/python.py

# Headless Chromium and ChromeDriver for the browser tests (apt-get, as root).
browser:
	@bash .ci/ensure-browser.sh

# The page on http://127.0.0.1:8080/.
serve: web build
	$(CARGO) run --release --quiet -- serve

# The page's trained model (web/static/charlm.safetensors, 150 KB: a 1-layer LSTM, H = 64,
# on the shipped Shakespeare), as it was made: about 6 minutes on 2 CPU cores under
# lavapipe; validation loss 4.17 (uniform) -> 1.74 nats/char after 6000 updates.
web-model: build
	$(CARGO) run --release --quiet -- train --cell lstm --layers 1 --hidden 64 --steps 6000 \
		--lr 3e-3 --eval-every 1000 --seed 0 --out web/static/charlm.safetensors

# The examples, as a user runs them (examples/forward.rs is the README's library snippet).
examples: setup
	for e in forward streaming training precision_error reserve_precision; do $(CARGO) run --release --quiet --example $$e || exit 1; done

# The main job: throughput of every named workload in both modes, checked against the
# CPU reference.
bench: build
	$(CARGO) run --release --quiet -- bench

# Issue #5's comparison measured now on this machine: PyTorch CPU (needs `pip install
# torch`) and burn on wgpu (a separate crate, ~10 minutes to build), then `bench` with each
# one's median divided by this engine's.
peers: build
	python3 benches/peers/pytorch.py > target/peers-pytorch.txt
	cd benches/peers/burn && $(CARGO) run --release --quiet -- --mode both > ../../../target/peers-burn.txt
	$(CARGO) run --release --quiet -- bench --compare burn=target/peers-burn.txt --compare pytorch=target/peers-pytorch.txt

validate: build
	$(CARGO) run --release --quiet -- validate

info: build
	$(CARGO) run --release --quiet -- info

criterion: setup
	$(CARGO) bench --bench kernels

clean:
	$(CARGO) clean
