package graph

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/authgraph/authgraph/graph/model"
	"github.com/authgraph/authgraph/internal/auth"
)

// Page sizes for Relay-style connections.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// pageArgs are a connection field's arguments.
type pageArgs struct {
	first, last   *int
	after, before *string
}

// paginate cuts one page out of items (sorted by ascending id) the Relay way: after/before
// narrow the range, then first keeps its head or last its tail. Cursors are opaque but
// stable: they name an id, so a page does not shift when earlier items are deleted.
func paginate[T any](items []T, id func(T) int64, a pageArgs) ([]T, *model.PageInfo, []string, error) {
	if err := checkPageArgs(a); err != nil {
		return nil, nil, nil, err
	}
	lo, hi := 0, len(items)
	if a.after != nil {
		after, err := decodeCursor(*a.after)
		if err != nil {
			return nil, nil, nil, err
		}
		for lo < hi && id(items[lo]) <= after {
			lo++
		}
	}
	if a.before != nil {
		before, err := decodeCursor(*a.before)
		if err != nil {
			return nil, nil, nil, err
		}
		for hi > lo && id(items[hi-1]) >= before {
			hi--
		}
	}
	info := &model.PageInfo{HasPreviousPage: lo > 0, HasNextPage: hi < len(items)}
	switch {
	case a.last != nil:
		if hi-lo > *a.last {
			lo = hi - *a.last
			info.HasPreviousPage = true
		}
	default:
		n := defaultPageSize
		if a.first != nil {
			n = *a.first
		}
		if hi-lo > n {
			hi = lo + n
			info.HasNextPage = true
		}
	}
	page := items[lo:hi]
	cursors := make([]string, len(page))
	for i, it := range page {
		cursors[i] = encodeCursor(id(it))
	}
	if len(cursors) > 0 {
		info.StartCursor = &cursors[0]
		info.EndCursor = &cursors[len(cursors)-1]
	}
	return page, info, cursors, nil
}

// checkPageArgs refuses first with last, and page sizes outside 1…maxPageSize.
func checkPageArgs(a pageArgs) error {
	if a.first != nil && a.last != nil {
		return auth.Errorf(auth.CodeInvalidInput, "pass first or last, not both")
	}
	for _, n := range []*int{a.first, a.last} {
		if n != nil && (*n < 1 || *n > maxPageSize) {
			return auth.Errorf(auth.CodeInvalidInput, "first and last must be from 1 to %d", maxPageSize)
		}
	}
	return nil
}

const cursorPrefix = "cursor:"

func encodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(id, 10)))
}

func decodeCursor(c string) (int64, error) {
	bad := auth.Errorf(auth.CodeInvalidInput, "malformed cursor")
	if len(c) > 64 {
		return 0, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(c, "="))
	if err != nil || !strings.HasPrefix(string(raw), cursorPrefix) {
		return 0, bad
	}
	n, err := strconv.ParseInt(string(raw[len(cursorPrefix):]), 10, 64)
	if err != nil || n < 0 {
		return 0, bad
	}
	return n, nil
}
