package main

import (
	"encoding/json"
	"net/http"
	"runtime"
	"testing"
)

// TestParsedQueryCacheIsBounded: the cache of parsed documents keeps only small ones, so
// distinct valid queries padded to the body limit (a comment costs no parser token) cannot
// make the process hold a megabyte per request sent. Measured on the heap after a GC, with
// the server in this process.
func TestParsedQueryCacheIsBounded(t *testing.T) {
	srv := startServer(t, nil)
	heap := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	body := func(i int) string {
		b, _ := json.Marshal(map[string]any{"query": floodQuery(i, 1000<<10)})
		return string(b)
	}
	srv.raw(t, http.MethodPost, "/graphql", body(-1), "Content-Type", "application/json")
	before := heap()
	const n = 40
	for i := range n {
		if r := srv.raw(t, http.MethodPost, "/graphql", body(i), "Content-Type", "application/json"); r.str(t, "version") == "" {
			t.Fatalf("query %d: %d %s", i, r.Status, r.Raw)
		}
	}
	if grew := heap() - before; grew > 8<<20 {
		t.Fatalf("%d distinct 1000 KiB queries left the heap %d MiB larger", n, grew>>20)
	}
}
