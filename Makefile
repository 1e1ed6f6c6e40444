# The README's commands. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
GO ?= go
PKGS := ./...
# Modules of their own inside this one, tested, vetted and tidied separately.
SUBMODULES := interop/gorgonia layers/gorgoniatest
# How long `make fuzz` runs each Fuzz target.
FUZZTIME ?= 3s

.PHONY: test bench lint tidy-check fmt fuzz

# Every test of the module (and of .ci's own tools) and of the nested modules, as
# `go test -json` read by .ci/testsummary: a line per package while they run, then
# the output of every failed test, every skipped test with its reason, and a last
# line counting the passed, failed and skipped tests.
test: lint
	@set -o pipefail; { \
	  $(GO) test -json -count=1 -timeout 40m $(PKGS) ./.ci/testsummary; \
	  echo "testsummary-exit $$? go test $(PKGS)"; \
	  for m in $(SUBMODULES); do \
	    (cd $$m && $(GO) test -json -count=1 -timeout 10m ./...); \
	    echo "testsummary-exit $$? go test ./... in $$m"; \
	  done; \
	} | $(GO) run ./.ci/testsummary

# Each Fuzz target of the module for FUZZTIME (see .ci/fuzz).
fuzz:
	GO="$(GO)" FUZZTIME="$(FUZZTIME)" bash .ci/fuzz

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

lint: tidy-check
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS) ./.ci/testsummary
	for m in $(SUBMODULES); do (cd $$m && $(GO) vet ./...) || exit 1; done

# go.mod and go.sum of every module are what `go mod tidy` makes them.
tidy-check:
	@for m in . $(SUBMODULES); do \
	  (cd $$m && $(GO) mod tidy -diff) || { echo "$$m: go.mod/go.sum are not tidy: run go mod tidy there (diff above)"; exit 1; }; \
	done

fmt:
	gofmt -w $$(git ls-files '*.go')
