# authgraph: `make run` starts the server, `make test` runs every test.
GO        ?= go
PKGS      := ./...
FUZZTIME  ?= 10s

.PHONY: run test test-cluster generate check-generate lint fuzz bench build attack attack-apq chaos latency soak

## run: start the server (embedded store unless AUTHGRAPH_REDIS_URL is set)
run:
	$(GO) run ./server

## build: build the server binary into bin/authgraph
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/authgraph ./server

# The packages whose tests use Redis: `make test` runs them a second time on a Redis Cluster.
CLUSTER_PKGS := ./internal/redisstore/ ./internal/mail/ ./internal/sessioncache/ ./internal/ratelimit/ ./internal/keymeter/ ./internal/redistest/ ./internal/httpapi/ ./server/

## test: all tests, with the race detector; Redis tests start a throwaway redis-server. Then
## the Redis-backed suites again on a throwaway 3-master Redis Cluster (redis-server and
## redis-cli --cluster create), torn down at the end.
test:
	$(GO) test -race -count=1 $(PKGS)
	$(MAKE) test-cluster

## test-cluster: the Redis-backed suites on a throwaway 3-master Redis Cluster
test-cluster:
	$(GO) run ./internal/redistest/cmd/withcluster -- $(GO) test -race -count=1 $(CLUSTER_PKGS)

## generate: regenerate gqlgen's code (from schema.graphqls and federation.graphqls) and the schema reference (docs/schema.md)
generate:
	$(GO) generate ./...

## check-generate: fail when the committed generated code (or docs/schema.md) is stale
check-generate: generate
	@git diff --exit-code -- graph/ docs/ || (echo "generated code is stale: run 'make generate' and commit" >&2; exit 1)

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

## fuzz: run each fuzz target for FUZZTIME and print executions and crashers per target
##       (their seed corpora also run in `make test`; a crasher is saved under testdata/fuzz)
FUZZ_TARGETS := \
	./internal/gid:FuzzDecode \
	./internal/token:FuzzCheck \
	./internal/argon2id:FuzzDecode \
	./internal/redisstore:FuzzDecodeSession \
	./internal/oidc:FuzzVerify \
	./graph/scalar:FuzzUnmarshalObjectID \
	./internal/httpapi:FuzzHandler
FUZZMINIMIZETIME ?= 5s
# A run that fails with nothing but "context deadline exceeded" and writes no failing input is
# Go's fuzz coordinator racing its own -fuzztime deadline (go.dev/issue/75804, fixed in Go 1.27),
# not a crasher: it is run once more, and a second such run is reported as a flake, not a failure.
# A failing input written to testdata/fuzz, a panic or a t.Fatal always fails.
fuzz:
	@set -u; failed=0; summary=""; \
	for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; fn=$${t##*:}; log=$$(mktemp); result=""; tries=0; \
	  while [ -z "$$result" ]; do \
	    tries=$$((tries+1)); echo "== $$fn in $$pkg, $(FUZZTIME) (run $$tries)"; \
	    if $(GO) test -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZETIME) $$pkg >$$log 2>&1; then \
	      result="0 crashers"; \
	    elif grep -q 'context deadline exceeded' $$log && ! grep -qE 'Failing input written|panic:|_test\.go:[0-9]+:' $$log; then \
	      cat $$log; if [ $$tries -ge 2 ]; then result="0 crashers (deadline flake twice)"; fi; \
	    else \
	      cat $$log; result="1 crasher"; failed=1; \
	    fi; \
	  done; \
	  execs=$$(sed -n 's/.*execs: \([0-9]*\).*/\1/p' $$log | tail -1); rm -f $$log; \
	  summary="$$summary$$(printf '%-24s %-22s %12s execs  %s' $$fn $$pkg "$${execs:-?}" "$$result")\n"; \
	done; \
	printf "\nfuzz summary (FUZZTIME=$(FUZZTIME)):\n$$summary"; exit $$failed

## attack: 200 clients send wrong secrets for 20 s to the real binary on a real Redis, with
##         { me { id } } beside them; prints the answers, peak RSS and latency (docs/scaling.md: Figures)
attack: build
	$(GO) run ./internal/loadtest/cmd/attackrun -bin bin/authgraph attack

## attack-apq: 32 clients flood persisted queries for 15 s (one address, then a botnet) at a
##             Redis with small maxmemory and noeviction; prints Redis memory and sign-in success
attack-apq: build
	$(GO) run ./internal/loadtest/cmd/attackrun -bin bin/authgraph -duration 15s apq

## chaos: under load, kill Redis (AOF on) for 5 s and start it again; prints the answers
##        during the gap, sessions before and after, and the time to recover (docs/scaling.md: Figures)
chaos: build
	$(GO) run ./internal/loadtest/cmd/attackrun -bin bin/authgraph chaos

## latency: { me { id } } open-loop (vegeta) on the real binary and a real Redis: the maximum
##          rate of a closed loop, then a constant 50 % and 80 % of it; prints p50/p99/p99.9
##          (docs/operations.md: Open-loop latency and long runs). LATENCY_STEP: each step's length.
LATENCY_STEP ?= 15s
latency: build
	$(GO) run ./internal/loadtest/cmd/attackrun -bin bin/authgraph -step $(LATENCY_STEP) latency

## soak: a constant mixed rate (SOAK_RATE/s, default 100) for SOAK_DURATION (default 30m; e.g.
##       make soak SOAK_DURATION=5m) on the real binary and a real Redis; prints the server's
##       RSS, goroutines and sockets and Redis's memory every SOAK_SAMPLE, the first and last
##       side by side, and fails on growth after SOAK_WARMUP or an answer unaccounted for.
##       Not part of `make test`.
SOAK_DURATION ?= 30m
SOAK_SAMPLE   ?= 1m
SOAK_WARMUP   ?= 2m
SOAK_RATE     ?= 100
soak: build
	$(GO) run ./internal/loadtest/cmd/attackrun -bin bin/authgraph -soak $(SOAK_DURATION) \
		-sample $(SOAK_SAMPLE) -warmup $(SOAK_WARMUP) -rate $(SOAK_RATE) soak

## bench: Go benchmarks with allocations, then the load run: a real server binary and a real
## redis-server on loopback, wrk (if installed) as the load, printing each scale target's
## figure and ratio (docs/scaling.md, "Figures"). BENCHFLAGS go to the load run, e.g. -rounds 5.
BENCHFLAGS ?=
bench:
	$(GO) test -run='^$$' -bench=. -benchmem $(PKGS)
	GO=$(GO) $(GO) run ./internal/loadtest/cmd/benchrun $(BENCHFLAGS)
