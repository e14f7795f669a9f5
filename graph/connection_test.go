package graph

import (
	"slices"
	"testing"
)

func TestPaginate(t *testing.T) {
	items := []int64{1, 2, 3, 5, 8, 13}
	id := func(n int64) int64 { return n }
	ptr := func(n int) *int { return &n }
	cur := func(n int64) *string { s := encodeCursor(n); return &s }
	tests := []struct {
		name           string
		args           pageArgs
		want           []int64
		hasPrev, hasNx bool
		wantErr        bool
	}{
		{name: "all by default", want: items},
		{name: "first 2", args: pageArgs{first: ptr(2)}, want: []int64{1, 2}, hasNx: true},
		{name: "first 2 after 2", args: pageArgs{first: ptr(2), after: cur(2)}, want: []int64{3, 5}, hasPrev: true, hasNx: true},
		{name: "after a deleted id", args: pageArgs{after: cur(4)}, want: []int64{5, 8, 13}, hasPrev: true},
		{name: "last 2", args: pageArgs{last: ptr(2)}, want: []int64{8, 13}, hasPrev: true},
		{name: "last 2 before 8", args: pageArgs{last: ptr(2), before: cur(8)}, want: []int64{3, 5}, hasPrev: true, hasNx: true},
		{name: "after the end", args: pageArgs{after: cur(13)}, want: []int64{}, hasPrev: true},
		{name: "first 0", args: pageArgs{first: ptr(0)}, wantErr: true},
		{name: "first 1001", args: pageArgs{first: ptr(1001)}, wantErr: true},
		{name: "first and last", args: pageArgs{first: ptr(1), last: ptr(1)}, wantErr: true},
		{name: "garbage cursor", args: pageArgs{after: func() *string { s := "!!"; return &s }()}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, info, cursors, err := paginate(items, id, tt.args)
			if tt.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(page, tt.want) && !(len(page) == 0 && len(tt.want) == 0) {
				t.Fatalf("page = %v, want %v", page, tt.want)
			}
			if info.HasPreviousPage != tt.hasPrev || info.HasNextPage != tt.hasNx {
				t.Fatalf("hasPrev,hasNext = %v,%v want %v,%v", info.HasPreviousPage, info.HasNextPage, tt.hasPrev, tt.hasNx)
			}
			if len(cursors) != len(page) {
				t.Fatalf("%d cursors for %d items", len(cursors), len(page))
			}
			for i, c := range cursors {
				if n, err := decodeCursor(c); err != nil || n != page[i] {
					t.Fatalf("cursor %q decodes to %d, %v", c, n, err)
				}
			}
		})
	}
}
