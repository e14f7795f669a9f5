package loadtest

import "net"

// FreePort answers a loopback TCP port that was free a moment ago, for a process about to
// listen on it.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
