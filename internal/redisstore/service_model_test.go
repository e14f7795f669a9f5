package redisstore

import (
	"fmt"
	"testing"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/redistest"
	"github.com/authgraph/authgraph/internal/storetest"
)

// The model tests of the domain over Redis (see storetest.Model): each run gets a store
// under a prefix of its own on one server.

func modelStores(t *testing.T) func(*testing.T, clock.Clock) auth.Store {
	srv := redistest.Start(t)
	n := 0
	return func(_ *testing.T, c clock.Clock) auth.Store {
		n++
		return New(srv.Client, Options{Prefix: fmt.Sprintf("%sm%d:", srv.Prefix, n), Clock: c})
	}
}

func TestModel(t *testing.T) { storetest.Model(t, modelStores(t)) }

func TestModelConcurrent(t *testing.T) { storetest.ModelConcurrent(t, modelStores(t)) }

func TestModelFaults(t *testing.T) { storetest.ModelFaults(t, modelStores(t)) }
