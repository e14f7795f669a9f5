// Command attackrun measures how authgraph holds under attack and faults, for the figures in
// docs/scaling.md. It starts everything it needs on loopback (a redis-server from PATH and the
// authgraph binary given with -bin), runs one scenario for a bounded time, prints the
// figures and stops everything it started.
//
//	go run ./internal/loadtest/cmd/attackrun -bin bin/authgraph attack   (make attack)
//	go run ./internal/loadtest/cmd/attackrun -bin bin/authgraph chaos    (make chaos)
//	go run ./internal/loadtest/cmd/attackrun -bin bin/authgraph apq      (make attack-apq)
//	go run ./internal/loadtest/cmd/attackrun -bin bin/authgraph latency  (make latency)
//	go run ./internal/loadtest/cmd/attackrun -bin bin/authgraph soak     (make soak)
//
// attack: 200 concurrent clients send wrong passwords and wrong user-key secrets for 20 s,
// each from its own address (X-Forwarded-For through a trusted proxy), while 4 clients
// run the authenticated query { me { id } } beside them. It reports how the attempts were
// answered, the server's peak RSS and the latency of { me { id } }. It runs three times:
// with the default limits, with rate limits off (the hashing pool alone), and with rate
// limits off and the pool as wide as the attack (what an unbounded server would do).
//
// chaos: 20 clients run { me { id } } and password logins against Redis with the
// append-only file on; after 5 s Redis is killed (SIGKILL), 5 s later started again. It
// reports the answers during the gap (503, and any 401), the sessions in Redis before and
// after, every token issued before the kill checked again, and how long after Redis came
// back the service recovered.
//
// apq: clients flood the server with distinct 16 KiB queries to persist (APQ), against a
// Redis with a small maxmemory and noeviction, while others sign in and check tokens; once
// from one address, once from a new address per request. It reports Redis's memory and keys,
// and how the sign-ins and token checks were answered during the flood (see apq.go).
//
// latency: { me { id } } open-loop with vegeta (latency.go): the maximum rate of a closed
// loop, then a constant 50 % and 80 % of it; p50, p99 and p99.9 of each.
//
// soak: a constant mixed rate for -soak (30m), reading the server's RSS, goroutines and open
// sockets and Redis's memory every -sample; they must be flat after -warmup, and every
// answer accounted for (soak.go).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("bin", "bin/authgraph", "the authgraph binary (make build)")
	duration := flag.Duration("duration", 20*time.Second, "attack, apq: how long each run lasts")
	attackers := flag.Int("attackers", 200, "attack: concurrent clients sending wrong secrets")
	gap := flag.Duration("gap", 5*time.Second, "chaos: how long Redis stays down")
	flooders := flag.Int("flooders", 32, "apq: concurrent clients sending queries to persist")
	step := flag.Duration("step", 15*time.Second, "latency: how long each step (maximum, 50 %, 80 %) runs")
	soakFor := flag.Duration("soak", 30*time.Minute, "soak: how long it runs")
	sample := flag.Duration("sample", time.Minute, "soak: how often the figures are read")
	warmup := flag.Duration("warmup", 2*time.Minute, "soak: how long before the figures must stay flat")
	rate := flag.Int("rate", 100, "soak: requests per second")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: attackrun [flags] attack|chaos|apq|latency|soak")
		flag.PrintDefaults()
	}
	flag.Parse()

	// Everything stops by itself: the whole run is bounded, and so is each scenario.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute+*soakFor)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	var err error
	switch flag.Arg(0) {
	case "attack":
		err = attack(ctx, *bin, *attackers, *duration)
	case "chaos":
		err = chaos(ctx, *bin, *gap)
	case "apq":
		err = apqFlood(ctx, *bin, *flooders, *duration)
	case "latency":
		err = latency(ctx, *bin, *step)
	case "soak":
		err = soak(ctx, *bin, *soakFor, *sample, *warmup, *rate)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}
