package loadtest

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
)

// Proxy forwards TCP connections to a Redis server. It notices the connections on which the
// client subscribes to a channel (pub/sub), and can cut exactly those silently: from Cut(true)
// on, their bytes are dropped in both directions, and nothing is closed, as a network that
// loses packets would. Other connections, and pub/sub connections made later, work.
type Proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	conns []*proxied
}

type proxied struct {
	client, server net.Conn
	pubsub         atomic.Bool
	cut            atomic.Bool
}

// NewProxy listens on a free loopback port and forwards to target.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target}
	go p.serve()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// CutPubSub starts (on) or stops dropping the bytes of the pub/sub connections open now.
func (p *Proxy) CutPubSub(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		if c.pubsub.Load() {
			c.cut.Store(on)
		}
	}
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() {
	_ = p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.client.Close()
		_ = c.server.Close()
	}
}

func (p *Proxy) serve() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		c := &proxied{client: client, server: server}
		p.mu.Lock()
		p.conns = append(p.conns, c)
		p.mu.Unlock()
		go c.pipe(server, client, true)
		go c.pipe(client, server, false)
	}
}

var subscribe = []byte("subscribe")

func (c *proxied) pipe(dst, src net.Conn, fromClient bool) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if fromClient && !c.pubsub.Load() && bytes.Contains(bytes.ToLower(buf[:n]), subscribe) {
				c.pubsub.Store(true)
			}
			if !c.cut.Load() {
				if _, err := dst.Write(buf[:n]); err != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}
