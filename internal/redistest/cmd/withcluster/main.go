// Command withcluster runs a command against a throwaway Redis Cluster: it starts three
// redis-server masters on free loopback ports, joins them with redis-cli --cluster create,
// runs the command with AUTHGRAPH_REDIS_URL set to the cluster's redis+cluster:// URL, and
// stops the cluster when the command ends. `make test` uses it to run the Redis-backed
// suites a second time, on a cluster:
//
//	go run ./internal/redistest/cmd/withcluster -- go test ./server/
//
// Without redis-server or redis-cli on PATH it says so loudly and exits 0, or 1 under
// CI=true, as the tests themselves do.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/authgraph/authgraph/internal/redistest"
	"github.com/authgraph/authgraph/internal/testenv"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: withcluster [--] command [args…]")
		return 2
	}
	server, errServer := exec.LookPath("redis-server")
	cli, errCli := exec.LookPath("redis-cli")
	if err := errors.Join(errServer, errCli); err != nil {
		msg := "withcluster: REDIS CLUSTER TESTS SKIPPED: redis-server and redis-cli are needed (apt-get install redis-server redis-tools)"
		fmt.Fprintf(os.Stderr, "\n*** %s: %v ***\n\n", msg, err)
		if testenv.CI() {
			return 1
		}
		return 0
	}
	dir, err := os.MkdirTemp("", "authgraph-cluster-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "withcluster:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	c, err := redistest.NewCluster(server, cli, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "withcluster:", err)
		return 1
	}
	defer c.Close()
	fmt.Fprintf(os.Stderr, "withcluster: Redis Cluster of %d masters at %s\n", redistest.ClusterMasters, c.URL())

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), redistest.EnvURL+"="+c.URL())
	// Ctrl-C reaches the command through the terminal; wait for it to finish, then clean up.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "withcluster:", err)
		return 1
	}
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	if err := cmd.Wait(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() > 0 {
			return exit.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "withcluster:", err)
		return 1
	}
	return 0
}
