package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildServer builds this package's binary once per test binary run.
var buildServer = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "authgraph-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "authgraph")
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// process is the real authgraph binary, started with env, listening on a free port.
type process struct {
	cmd  *exec.Cmd
	addr string
	logs *syncBuffer
	done chan struct{} // closed when the process has exited; then err is its exit
	err  error
}

func startProcess(t *testing.T, env ...string) *process {
	t.Helper()
	bin, err := buildServer()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{logs: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin)
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "AUTHGRAPH_ADDR=127.0.0.1:0", "AUTHGRAPH_METRICS_ADDR=127.0.0.1:0"}, env...)
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			p.logs.Write([]byte(line + "\n"))
			var l struct{ Message, Addr string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Message == "listening" {
				addr <- l.Addr
			}
		}
	}()
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	select {
	case p.addr = <-addr:
	case <-p.done:
		t.Fatalf("authgraph exited at start: %v\n%s", p.err, p.logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("authgraph did not start\n%s", p.logs)
	}
	return p
}

// waitConnRefused waits until a new connection to addr is refused.
func waitConnRefused(t *testing.T, addr string) {
	t.Helper()
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		c.Close()
		if i == 1000 {
			t.Fatal("new connections are still accepted after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// SIGTERM: the listener closes at once (new connections are refused), a request in flight
// is finished and answered, and the process exits 0.
func TestSIGTERMFinishesRequestsInFlight(t *testing.T) {
	p := startProcess(t, "AUTHGRAPH_SHUTDOWN_TIMEOUT=20s")

	// A request in flight: its headers are sent, its body only half.
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"query":"{ version }"}`
	fmt.Fprintf(conn, "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:10])
	// An idle keep-alive connection, which shutdown may close.
	if r, err := http.Get("http://" + p.addr + "/healthz"); err != nil || r.StatusCode != 200 {
		t.Fatalf("healthz before shutdown: %v", err)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitConnRefused(t, p.addr)
	select {
	case <-p.done:
		t.Fatalf("exited with a request in flight: %v\n%s", p.err, p.logs)
	default:
	}

	// The rest of the body: the request completes and is answered.
	io.WriteString(conn, body[10:])
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the request in flight was not answered: %v\n%s", err, p.logs)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"version"`) {
		t.Fatalf("the request in flight: %d %s", resp.StatusCode, b)
	}
	if resp.Header.Get("Connection") != "close" && !resp.Close {
		t.Fatalf("the answer during shutdown does not close its connection: %v", resp.Header)
	}

	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("exit: %v\n%s", p.err, p.logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("did not exit after its last request\n%s", p.logs)
	}
	for _, want := range []string{"shutting down", `"stopped"`} {
		if !strings.Contains(p.logs.String(), want) {
			t.Fatalf("the log does not say %q:\n%s", want, p.logs)
		}
	}
}

// A request that never finishes holds the process only until AUTHGRAPH_SHUTDOWN_TIMEOUT:
// then it exits, reporting it.
func TestShutdownIsBounded(t *testing.T) {
	p := startProcess(t, "AUTHGRAPH_SHUTDOWN_TIMEOUT=500ms")
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	// Make sure the server is reading the body before the signal.
	if r, err := http.Get("http://" + p.addr + "/healthz"); err != nil || r.StatusCode != 200 {
		t.Fatalf("healthz: %v", err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
		var exit *exec.ExitError
		if !errors.As(p.err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("exit %v, want status 1 (shutdown timed out)\n%s", p.err, p.logs)
		}
		if !strings.Contains(p.logs.String(), "shutdown") {
			t.Fatalf("the exit does not say why:\n%s", p.logs)
		}
	case <-time.After(30 * time.Second): // a hang detector, far above the 500ms bound
		t.Fatalf("a request that never finishes held the process\n%s", p.logs)
	}
}
