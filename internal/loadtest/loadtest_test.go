package loadtest

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const wrkOutput = `Running 1s test @ http://127.0.0.1:18931/
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.58ms   30.92ms 187.90ms   91.02%
    Req/Sec     0.94k   587.44     1.64k    70.00%
  Latency Distribution
     50%    1.18ms
     75%    4.79ms
     90%   38.60ms
     99%  160.18ms
  940 requests in 1.00s, 509.67KB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 940
Requests/sec:    937.22
Transfer/sec:    508.16KB
`

func TestParseWrk(t *testing.T) {
	r, err := ParseWrk(wrkOutput)
	if err != nil {
		t.Fatal(err)
	}
	want := Result{Requests: 940, Errors: 943, Elapsed: time.Second, P50: 1180 * time.Microsecond, P99: 160180 * time.Microsecond}
	if r != want {
		t.Errorf("ParseWrk = %+v, want %+v", r, want)
	}
	if r.RPS() != 940 {
		t.Errorf("RPS = %v", r.RPS())
	}
	if _, err := ParseWrk("unable to connect"); err == nil {
		t.Error("no error for output without a report")
	}
}

func TestLuaString(t *testing.T) {
	if got := luaString(`{"q":"a\b"}` + "\n"); got != `"{\"q\":\"a\\b\"}\010"` {
		t.Errorf("luaString = %s", got)
	}
}

func TestRedisInfo(t *testing.T) {
	info := "# Commandstats\r\ncmdstat_get:calls=10,usec=5,usec_per_call=0.5\r\ncmdstat_config|resetstat:calls=1,usec=1\r\n" +
		"cmdstat_info:calls=3,usec=9\r\ncmdstat_publish:calls=2,usec=1\r\n"
	calls := CommandCalls(info)
	if calls["get"] != 10 || calls["config|resetstat"] != 1 || len(calls) != 4 {
		t.Errorf("CommandCalls = %v", calls)
	}
	if n := DataCommands(calls); n != 12 {
		t.Errorf("DataCommands = %d, want 12 (get and publish)", n)
	}
	if n, ok := Field("# Memory\r\nused_memory:1234\r\nused_memory_human:1.2K\r\n", "used_memory"); !ok || n != 1234 {
		t.Errorf("Field = %d, %v", n, ok)
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	if Percentile(d, 50) != 50 || Percentile(d, 99) != 99 || Percentile(d, 100) != 100 || Percentile(nil, 50) != 0 {
		t.Error("wrong percentiles")
	}
}

func TestGoLoad(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Auth-Token") != "tok" {
			w.WriteHeader(401)
		}
	}))
	defer srv.Close()
	r, err := GoLoad{}.Run(t.Context(), Load{URL: srv.URL, Body: "{}", Connections: 2, Duration: 200 * time.Millisecond, Headers: map[string]string{"X-Auth-Token": "tok"}})
	if err != nil || r.Requests == 0 || r.Errors != 0 || r.P99 == 0 {
		t.Errorf("GoLoad = %+v, %v", r, err)
	}
}

// The proxy forwards, and cuts only the connection that subscribed.
func TestProxyCutsPubSubOnly(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() {
				buf := make([]byte, 1024)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					_, _ = c.Write(buf[:n])
				}
			}()
		}
	}()
	p, err := NewProxy(echo.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	roundTrip := func(c net.Conn, msg string) bool {
		_ = c.SetDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := c.Write([]byte(msg)); err != nil {
			return false
		}
		buf := make([]byte, len(msg))
		n, err := c.Read(buf)
		return err == nil && strings.HasPrefix(msg, string(buf[:n]))
	}
	plain, sub := dial(), dial()
	defer plain.Close()
	defer sub.Close()
	if !roundTrip(plain, "GET x\r\n") || !roundTrip(sub, "*2\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n") {
		t.Fatal("the proxy does not forward")
	}
	p.CutPubSub(true)
	if !roundTrip(plain, "GET y\r\n") {
		t.Error("a plain connection was cut")
	}
	if roundTrip(sub, "PING\r\n") {
		t.Error("the pub/sub connection was not cut")
	}
}
