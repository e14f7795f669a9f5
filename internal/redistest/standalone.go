package redistest

// Standalone is a private redis-server started outside a test, for tools such as the load
// benchmark (internal/loadtest). It keeps no data on disk.
type Standalone struct{ p *process }

// NewStandalone starts bin (a redis-server) on a free loopback port with its files in dir,
// and waits until it answers PING.
func NewStandalone(bin, dir string) (*Standalone, error) {
	p, err := newProcess(bin, dir)
	if err != nil {
		p.kill()
		return nil, err
	}
	return &Standalone{p}, nil
}

// Addr is the server's host:port.
func (s *Standalone) Addr() string { return s.p.addr() }

// Pid is the server's process id (to read its CPU time, say).
func (s *Standalone) Pid() int {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	if s.p.cmd == nil {
		return 0
	}
	return s.p.cmd.Process.Pid
}

// Close kills the server.
func (s *Standalone) Close() { s.p.kill() }
