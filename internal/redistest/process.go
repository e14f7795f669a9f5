package redistest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// process is a private redis-server. It can be killed and started again on the same port.
type process struct {
	bin, dir string
	port     int
	first    []string   // arguments before the usual ones (a configuration file, --sentinel)
	extra    []string   // more redis-server arguments
	out      syncBuffer // stdout and stderr of every run, for the test log on failure

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

// newProcess starts redis-server on a free loopback port. A port found free can be taken by
// someone else before redis-server binds it, so a start that fails is retried on another.
// It answers the process even with an error, for its output.
func newProcess(bin, dir string, extra ...string) (*process, error) {
	return startProcess(&process{bin: bin, dir: dir, extra: extra})
}

// startProcess starts p (with its bin, dir and arguments set) on a free port, as newProcess.
func startProcess(p *process) (*process, error) {
	var err error
	for range 5 {
		if p.port, err = freePort(); err != nil {
			return p, err
		}
		if err = p.start(); err == nil {
			return p, nil
		}
	}
	return p, err
}

func (p *process) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

// start runs redis-server and waits until it answers PING.
func (p *process) start() error {
	args := []string{
		"--port", strconv.Itoa(p.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", p.dir,
	}
	cmd := exec.Command(p.bin, append(append(append([]string(nil), p.first...), args...), p.extra...)...)
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	cmd.SysProcAttr = sysProcAttr()
	fmt.Fprintf(&p.out, "--- %s on port %d\n", p.bin, p.port)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()

	if err := waitPing(p.ping, 5*time.Second, exited); err != nil {
		p.kill()
		return err
	}
	return nil
}

// kill ends the server and its process group, and waits for it. It is safe to call on a
// server that is already gone.
func (p *process) kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited: // already gone and reaped: its pid may belong to someone else now
	default:
		killGroup(cmd)
		<-exited
	}
}

func (p *process) output() string { return p.out.String() }

// ping sends PING on a connection of its own. A go-redis client would not do for polling a
// server that is starting: after PoolSize failed dials it stops dialling and answers the last
// error until its background probe, made once a second, gets through.
func (p *process) ping() error {
	c, err := net.DialTimeout("tcp", p.addr(), 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	reply := make([]byte, len("+PONG\r\n"))
	if _, err := io.ReadFull(c, reply); err != nil {
		return err
	}
	if string(reply) != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", reply)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	a, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("redistest: listener has no TCP address")
	}
	return a.Port, nil
}

// syncBuffer is a bytes.Buffer that the process writes while the test may read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
