# marketetl — make targets. `make test` is what CI runs.
GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 30s
BIN       ?= bin/etl

.PHONY: all build test vet fmt-check demo run sim migrate fuzz bench bench-quick bench-symbols bench-symbols-quick bench-micro clean faults soak cluster-test

all: build

build:
	$(GO) build -o $(BIN) ./cmd/etl

## test: gofmt check, go vet and the race-enabled test suite (with every fuzz target's seed corpus)
test: fmt-check vet
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## faults: the whole fault suite (docs/RELIABILITY.md), with the scenarios
## that take minutes (-long, left out of make test), regenerating its table
faults:
	$(GO) test -race -count=1 -timeout 20m -v ./faults/ -args -long -report ../docs/RELIABILITY.md

## soak: random faults for SOAK (default 3m) on all three exchanges, then database = truth; result in docs/RELIABILITY.md
SOAK ?= 3m
soak:
	$(GO) test -count=1 -timeout 30m -v -run '^TestSoak$$' ./faults/ -args -soak $(SOAK) -report ../docs/RELIABILITY.md

## demo: the simulated exchange plus collectors for every exchange, into DATABASE_URL
demo:
	$(GO) run ./cmd/etl demo

## run: the service with the collectors of ETL_CONFIG (default collectors.yaml)
run:
	$(GO) run ./cmd/etl run

sim:
	$(GO) run ./cmd/etl sim

migrate:
	$(GO) run ./cmd/etl migrate up

## fuzz: run every fuzz target for FUZZTIME each
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

## bench: the end-to-end benchmark (etl bench, docs/PERFORMANCE.md) against the
## local PostgreSQL (DATABASE_URL's server) and Redis: prints the table and
## writes bench-result.json; BENCH_FLAGS adds flags (e.g. --cpuprofile cpu.pprof)
BENCH_FLAGS ?=
bench: build
	$(BIN) bench --out bench-result.json $(BENCH_FLAGS)

## bench-quick: the same in a few seconds with small counts (CI: proves it works)
bench-quick: build
	$(BIN) bench --quick --out bench-result.json $(BENCH_FLAGS)

## bench-symbols: a thousand symbols over OKX, Binance and Coinbase, then 200
## order books, through one service against the simulated exchange (etl bench
## --symbols, docs/PERFORMANCE.md, about 3 minutes); writes bench-symbols.json
SYMBOLS ?= 1000
bench-symbols: build
	$(BIN) bench --symbols $(SYMBOLS) --out bench-symbols.json $(BENCH_FLAGS)

## bench-symbols-quick: the same in seconds with 30 symbols and 6 books (CI: proves it works)
bench-symbols-quick: build
	$(BIN) bench --symbols 30 --quick --out bench-symbols.json $(BENCH_FLAGS)

## bench-micro: Go micro-benchmarks
bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

clean:
	rm -rf bin

## cluster-test: three etl processes sharing the collectors through one database (SIGKILL, SIGSTOP, connection cut, join); docs/SCALING.md
cluster-test:
	$(GO) test -race -count=1 -timeout 20m -v -run '^TestCluster$$' ./faults/ -args -cluster
