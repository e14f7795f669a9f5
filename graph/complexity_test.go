package graph

import (
	"reflect"
	"strings"
	"testing"
)

// Every field of the schema that answers a connection must have connectionCost in
// Complexity: otherwise a page of 1000 would be counted as one item, and a page of pages
// would pass the complexity limit.
func TestEveryConnectionHasItsCost(t *testing.T) {
	schema := NewExecutableSchema(Config{}).Schema()
	root := reflect.ValueOf(Complexity())
	found := 0
	for _, def := range schema.Types {
		if strings.HasPrefix(def.Name, "__") {
			continue
		}
		for _, f := range def.Fields {
			if !strings.HasSuffix(f.Type.Name(), "Connection") {
				continue
			}
			found++
			typ := root.FieldByName(def.Name)
			if !typ.IsValid() {
				t.Errorf("%s.%s: no %s in ComplexityRoot", def.Name, f.Name, def.Name)
				continue
			}
			fn := typ.FieldByName(strings.ToUpper(f.Name[:1]) + f.Name[1:])
			if !fn.IsValid() || fn.IsNil() {
				t.Errorf("%s.%s answers a %s but has no cost in Complexity()", def.Name, f.Name, f.Type.Name())
			}
		}
	}
	if found < 3 {
		t.Fatalf("found %d connection fields; the schema has at least 3 (sessions, userKeys, users)", found)
	}
}

func TestConnectionCost(t *testing.T) {
	n := func(i int) *int { return &i }
	tests := []struct {
		name        string
		child       int
		first, last *int
		want        int
	}{
		{"default page", 2, nil, nil, 1 + defaultPageSize*2},
		{"first", 3, n(10), nil, 31},
		{"last", 3, nil, n(10), 31},
		{"clamped to the largest page", 1, n(1_000_000), nil, 1 + maxPageSize},
		{"at least one", 5, n(-3), nil, 6},
	}
	for _, tt := range tests {
		if got := connectionCost(tt.child, tt.first, nil, tt.last, nil); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

// _entities costs its selection once per representation: 100 users of three fields cost
// about 300, and a batch the complexity limit (50,000 by default) refuses is about 16,000
// representations of three fields.
func TestEntitiesCost(t *testing.T) {
	reps := make([]map[string]any, 100)
	if got := Complexity().Query.__resolve_entities(3, reps); got != 301 {
		t.Errorf("100 representations of 3 fields cost %d, want 301", got)
	}
	if got := Complexity().Query.__resolve_entities(3, nil); got != 4 {
		t.Errorf("no representation costs %d, want 4 (as one)", got)
	}
}
