# The README's commands. `make test` is what CI runs.
GO ?= go
PKGS := ./...

.PHONY: test bench lint fmt

test: lint
	$(GO) test -count=1 -timeout 40m $(PKGS)
	cd interop/gorgonia && $(GO) test -count=1 -timeout 10m ./...
	cd layers/gorgoniatest && $(GO) test -count=1 -timeout 10m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	cd interop/gorgonia && $(GO) vet ./...
	cd layers/gorgoniatest && $(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')
