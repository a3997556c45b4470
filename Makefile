# The portal's commands. `make run` and `make test` install what is missing first.
SWIFT     ?= swift
VERSION   := $(shell sed -n 's/.*static let number = "\(.*\)"/\1/p' Sources/Appliance/Version.swift)
ARCH      := amd64
DIST      := dist
DATA_DIR  ?= ./data
PORT      ?= 8080
# One release build serves the tests and the shipped binary: every module is compiled once, with
# testing enabled (the tests' @testable imports need it), and `dist` links those same objects
# again into the self-contained executable.
RELEASE   := -c release -Xswiftc -enable-testing
# The Swift runtime inside (PORTAL_STATIC_LINK: see Package.swift) and the static archives of the
# system libraries (`-l:libX.a` in Package.swift picks them in release builds).
STATIC_FLAGS := -Xlinker -ldl -Xlinker -lpthread
# The built-in sentence model, as scripts/fetch-model.sh installs it (.build/models/$(MODEL) for
# SwiftPM builds) and as `dist` ships it: beside the binary, where dist/portal looks first after
# /usr/lib/portal/models.
MODEL     := all-MiniLM-L6-v2

.PHONY: run build test test-steps dist deb tarball bench bench-kv bench-short clean deps test-deps

deps:
	@scripts/install-deps.sh build

test-deps:
	@scripts/install-deps.sh test

build: deps
	$(SWIFT) build --product portal

## Build and serve on http://127.0.0.1:$(PORT) from $(DATA_DIR); prints how to sign in on first start.
run: build
	PORTAL_LOG_FORMAT=text $(SWIFT) run --skip-build portal serve --data-dir $(DATA_DIR) --port $(PORT)

## Every test: unit and process tests, the short benchmarks, the kernel disassembly check,
## the static binary in a bare Debian root and on an old CPU, the package checks, and the
## browser tests.
test: test-deps
	scripts/in-scratch-tmpdir.sh $(MAKE) test-steps

# The steps of `test`, run with TMPDIR on a scratch directory removed afterwards, so no step
# (tests, benchmarks, packaging checks, browsers, the compiler) leaves files in /tmp.
test-steps:
	$(SWIFT) build $(RELEASE) --build-tests
	PORTAL_BINARY="$$($(SWIFT) build -c release --show-bin-path)/portal" $(SWIFT) test $(RELEASE) --skip-build --parallel
	# The API documents, equal to what the server serves (OpenAPITests), are valid OpenAPI 3.1.
	python3 -m openapi_spec_validator Tests/WebTests/Snapshots/openapi.json Tests/WebTests/Snapshots/openapi-v1.json
	$(MAKE) dist deb
	$(MAKE) bench-short
	scripts/check-kernels.sh
	scripts/check-dist.sh $(DIST)/portal
	scripts/check-package.sh $(DIST)/portal_$(VERSION)_$(ARCH).deb $(DIST)/portal-$(VERSION)-linux-$(ARCH).tar.gz
	PORTAL_BINARY=$(DIST)/portal python3 -m pytest -q --durations=12 Tests/Browser

## One self-contained executable: static Swift runtime, liblmdb, libcrypto and zlib inside;
## the sentence model it needs beside it in $(DIST)/models/$(MODEL).
dist: deps
	@# Dependencies that ask for "-lz" (swift-nio-extras' zlib shim) must get the static
	@# archive too: a search directory holding only libz.a comes before the system's.
	mkdir -p .build/static-libs
	ln -sf "$$(gcc -print-file-name=libz.a)" .build/static-libs/libz.a
	PORTAL_STATIC_LINK=1 $(SWIFT) build $(RELEASE) --product portal $(STATIC_FLAGS) -Xlinker -L$(CURDIR)/.build/static-libs
	mkdir -p $(DIST)
	rm -f $(DIST)/portal
	cp "$$($(SWIFT) build -c release --show-bin-path)/portal" $(DIST)/portal
	strip $(DIST)/portal
	@# The model from .build/models (deps fetched it; this only checks it is still in place),
	@# copied fresh so no stale or partial file survives, then checked where it now is.
	scripts/fetch-model.sh
	rm -rf $(DIST)/models/$(MODEL)
	install -d -m 0755 $(DIST)/models $(DIST)/models/$(MODEL)
	install -m 0644 .build/models/$(MODEL)/model.safetensors .build/models/$(MODEL)/vocab.txt $(DIST)/models/$(MODEL)/
	scripts/fetch-model.sh --verify $(DIST)/models/$(MODEL)
	@ls -l $(DIST)/portal $(DIST)/models/$(MODEL)

## dist/portal_<version>_amd64.deb and dist/portal-<version>-linux-amd64.tar.gz
deb: dist
	scripts/build-packages.sh $(VERSION) $(ARCH) $(DIST)

tarball: deb

## Benchmarks (package-benchmark). `bench-kv` prints the storage comparison with ratios;
## `bench-short` runs only the quick kernel, codec and small-search benchmarks.
bench: deps
	$(SWIFT) package --disable-sandbox benchmark --no-progress

bench-kv: deps
	scripts/bench-kv.sh

# Straight from the benchmark executables, built with the same flags as the tests (in `make
# test` they are already built, so nothing compiles again); each prints its histograms, and a
# missed floor exits non-zero.
bench-short: deps
	$(SWIFT) build $(RELEASE) --product VectorBenchmarks
	$(SWIFT) build $(RELEASE) --product KVBenchmarks
	"$$($(SWIFT) build -c release --show-bin-path)/VectorBenchmarks" --filter '.*1536 SIMD.*' --filter 'hnsw.*'
	"$$($(SWIFT) build -c release --show-bin-path)/KVBenchmarks" --filter 'codec.*'

clean:
	rm -rf .build $(DIST)
