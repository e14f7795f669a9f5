package main

import (
	"io"
	"log"
	"time"

	"github.com/rs/zerolog"
)

// zerolog's time format is a package variable: set once, before any logger logs, and never
// again (a second server in one process, as the tests start, would race with the first's
// log lines).
func init() { zerolog.TimeFieldFormat = time.RFC3339Nano }

func newLogger(w io.Writer, level string) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		lvl = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
}

// newStdLogger routes net/http's own messages (TLS handshake errors and the like) into the
// JSON log.
func newStdLogger(l zerolog.Logger) *log.Logger {
	return log.New(l.With().Str("source", "net/http").Logger(), "", 0)
}
