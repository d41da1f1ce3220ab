# sipnatlab: `make run` shows the three classic cases, `make test` runs every spec.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/sipnatlab
export TESTCONTAINERS_RYUK_DISABLED := true

.PHONY: setup all build run test test-sim test-slow test-realtime test-junit vet bench mem fuzz clean docs image stress

all: build

## build: -buildvcs=auto stamps the VCS revision sipnatlab --version prints, also where
## GOFLAGS (or go env) says -buildvcs=false; outside a git checkout it stamps nothing.
build:
	$(GO) build -buildvcs=auto -o $(BIN) ./cmd/sipnatlab

## run: the main demo, the seed's three cases over loopback sockets, each judged
## (all bundled scenarios: ./bin/sipnatlab run scenarios/, or --clock simulated).
run: build
	./$(BIN) run scenarios/no-nat-handling.yaml scenarios/excessive-nat-handling.yaml scenarios/correct-nat-handling.yaml

## test: vet, then every spec with the race detector in three phases
## (scripts/test.sh): simulated time (the unit specs and every bundled
## scenario, 64*T1 timeouts included), loopback sockets in real time with
## scaled timers, Kamailio and OpenSIPS in containers (their images are
## built in the background when missing). About 55 s warm, with the images.
## The labels slow and realtime are left to make test-slow.
## Every package with tests is a Ginkgo suite, so the label filters apply to all.
test: setup vet
	./scripts/test.sh

## test-sim: the first phase alone, the specs that need no socket and no Docker (about 20 s).
test-sim: vet
	TEST_PHASES=simulated ./scripts/test.sh

## test-slow: what make test leaves out, in the same phases (.ci/run runs it after
## make test): the specs labelled slow, which wait on real timers (a real proxy's
## 30 s fr_timer, chains at RFC timers, the matrix's real cells) or are loads, and
## those labelled realtime. About 2 min.
test-slow: setup
	TEST_SLOW=1 ./scripts/test.sh

## test-junit: the make test specs through the Ginkgo CLI, with a JUnit report in junit.xml.
test-junit:
	$(GO) run github.com/onsi/ginkgo/v2/ginkgo -r -race --label-filter='!slow && !realtime' --junit-report=junit.xml --output-dir=.

## setup: the Debian packages the specs use (tshark, sngrep, chromium, debootstrap), when missing.
setup:
	./scripts/setup.sh

## test-realtime: the bundled scenarios at their own timers on loopback (32 s; part of test-slow).
test-realtime:
	$(GO) test -race -count=1 ./harness/ -ginkgo.label-filter='realtime'

vet:
	$(GO) vet ./...

## image: the local images the container specs start, each a no-op when its
## tag exists (needs root): sipnatlab/kamailio:5.6 (debootstrap + Debian's
## kamailio) and sipnatlab/opensips:3.6 (OpenSIPS built from the source
## tarball in ../shared/vendor, or $$OPENSIPS_SRC, in a debootstrapped
## bookworm). make test builds missing ones in the background.
image:
	./scripts/build-kamailio-image.sh
	./scripts/build-opensips-image.sh

## stress: flake hunt, the suite 200 times in simulated time and 20 times on
## loopback (with the container specs), -race, the other core kept busy.
stress:
	./scripts/stress.sh

## bench: Go benchmarks (benchstat-compatible bench.out) and the ratios of BENCHMARKS.md.
bench:
	./scripts/bench.sh

## mem: a run's memory, each load in its own process (scripts/mem.sh, mem.out): live heap and
## peak RSS per captured datagram, and what one more datagram costs between two loads, flagged
## against the goals (2 GB, 1 KB; a few minutes). MEM_LOADS=over/ runs the loads past the bound.
mem:
	./scripts/mem.sh

## fuzz: every fuzz target in turn, FUZZTIME each (default 10m), one worker, lowest priority.
fuzz:
	./scripts/fuzz.sh

## docs: screenshot of the excessive case's HTML ladder to docs/ (needs chromium; not part of test).
docs:
	./scripts/screenshot.sh

clean:
	rm -rf bin bench.out .cache
	find . -name '*.test' -type f -delete
