package memstore_test

import (
	"testing"

	"github.com/authgraph/authgraph/internal/auth"
	"github.com/authgraph/authgraph/internal/clock"
	"github.com/authgraph/authgraph/internal/memstore"
	"github.com/authgraph/authgraph/internal/storetest"
)

// The model tests of the domain over the embedded store (see storetest.Model).

func newStore(_ *testing.T, c clock.Clock) auth.Store { return memstore.New(c) }

func TestModel(t *testing.T) { storetest.Model(t, newStore) }

func TestModelConcurrent(t *testing.T) { storetest.ModelConcurrent(t, newStore) }

func TestModelFaults(t *testing.T) { storetest.ModelFaults(t, newStore) }

func TestServiceKeyModel(t *testing.T) { storetest.ServiceKeyModel(t, newStore) }
