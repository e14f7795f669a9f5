# authgraph: `make run` starts the server, `make test` runs every test.
GO        ?= go
PKGS      := ./...
FUZZTIME  ?= 10s

.PHONY: run test test-cluster generate check-generate lint fuzz bench build

## run: start the server (embedded store unless AUTHGRAPH_REDIS_URL is set)
run:
	$(GO) run ./server

## build: build the server binary into bin/authgraph
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/authgraph ./server

# The packages whose tests use Redis: `make test` runs them a second time on a Redis Cluster.
CLUSTER_PKGS := ./internal/redisstore/ ./internal/sessioncache/ ./internal/ratelimit/ ./internal/redistest/ ./server/

## test: all tests, with the race detector; Redis tests start a throwaway redis-server. Then
## the Redis-backed suites again on a throwaway 3-master Redis Cluster (redis-server and
## redis-cli --cluster create), torn down at the end.
test:
	$(GO) test -race -count=1 $(PKGS)
	$(MAKE) test-cluster

## test-cluster: the Redis-backed suites on a throwaway 3-master Redis Cluster
test-cluster:
	$(GO) run ./internal/redistest/cmd/withcluster -- $(GO) test -race -count=1 $(CLUSTER_PKGS)

## generate: regenerate gqlgen's code and the README's schema reference from schema.graphqls
generate:
	$(GO) generate ./...

## check-generate: fail when the committed generated code (or the README's schema reference) is stale
check-generate: generate
	@git diff --exit-code -- graph/ README.md || (echo "generated code is stale: run 'make generate' and commit" >&2; exit 1)

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

## fuzz: run each fuzz target for FUZZTIME (their seed corpora also run in `make test`)
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzDecode$$' -fuzztime=$(FUZZTIME) ./internal/gid/
	$(GO) test -run='^$$' -fuzz='^FuzzCheck$$' -fuzztime=$(FUZZTIME) ./internal/token/
	$(GO) test -run='^$$' -fuzz='^FuzzDecode$$' -fuzztime=$(FUZZTIME) ./internal/argon2id/

## bench: Go benchmarks with allocations, then the load run: a real server binary and a real
## redis-server on loopback, wrk (if installed) as the load, printing each scale target's
## figure and ratio (README, "Scaling"). BENCHFLAGS go to the load run, e.g. -rounds 5.
BENCHFLAGS ?=
bench:
	$(GO) test -run='^$$' -bench=. -benchmem $(PKGS)
	GO=$(GO) $(GO) run ./internal/loadtest/cmd/benchrun $(BENCHFLAGS)
