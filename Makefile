# sipnatlab: `make run` shows the three classic cases, `make test` runs every spec.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/sipnatlab
export TESTCONTAINERS_RYUK_DISABLED := true

.PHONY: all build run test race vet bench tools clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/sipnatlab

## run: the main demo, the seed's three cases over loopback sockets, each judged.
run: build
	./$(BIN) run scenarios/

## test: vet, then every Ginkgo/Go spec with the race detector.
test: vet
	$(GO) test -race -count=1 ./...

vet:
	$(GO) vet ./...

## bench: Go benchmarks, benchstat-compatible output.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./... | tee bench.out

clean:
	rm -rf bin bench.out
