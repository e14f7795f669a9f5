package redisstore

import (
	"cmp"
	"errors"
	"slices"
	"strings"
)

// A session's user agent is most of its size: a desktop browser's is 100 to 150 bytes, where
// everything else in the record is some 50. Browser user agents are nearly all made of the
// same few fragments, so session records keep them dictionary-coded, the way HPACK keeps HTTP
// headers: an ASCII user agent is stored with each fragment of uaFragments that it contains
// replaced by one byte, 0x80 plus the fragment's index. Chrome on macOS goes from 115 bytes
// to 21. A user agent with a byte of 0x80 or above is stored as it is (the record's flags
// say which).
//
// The table is part of the stored format (session version 3): never change, remove or
// reorder an entry. Appending one is also a format change, since a replica of an older build
// would not be able to read records that use it: bump sessionVersion and keep reading the
// old one. At most 128 entries.
var uaFragments = [...]string{
	// Mozilla-compatible preambles and platforms.
	"Mozilla/5.0 (",
	"Windows NT 10.0; Win64; x64",
	"Windows NT 10.0; WOW64",
	"Windows NT 6.1; Win64; x64",
	"Macintosh; Intel Mac OS X ",
	"X11; Linux x86_64",
	"X11; Ubuntu; Linux x86_64",
	"X11; CrOS x86_64 ",
	"Linux; Android ",
	"iPhone; CPU iPhone OS ",
	"iPad; CPU OS ",
	" like Mac OS X",
	"; K",
	// Engines.
	") AppleWebKit/537.36 (KHTML, like Gecko) ",
	") AppleWebKit/605.1.15 (KHTML, like Gecko) ",
	"AppleWebKit/",
	"(KHTML, like Gecko)",
	"; rv:",
	") Gecko/20100101 ",
	"Gecko/",
	// Browsers and versions.
	"Chrome/",
	" Safari/537.36",
	" Safari/604.1",
	" Safari/605.1.15",
	"Safari/",
	"Mobile/15E148",
	"Mobile Safari/537.36",
	" Mobile",
	"Version/",
	"Firefox/",
	"FxiOS/",
	"CriOS/",
	" Edg/",
	" EdgA/",
	" EdgiOS/",
	" OPR/",
	"SamsungBrowser/",
	"YaBrowser/",
	"Vivaldi/",
	".0.0.0",
	".0.0",
	"10_15_7",
	"_0 like",
	// Programs.
	"curl/",
	"python-requests/",
	"python-httpx/",
	"Python-urllib/",
	"aiohttp/",
	"Go-http-client/",
	"okhttp/",
	"axios/",
	"node-fetch/",
	"undici",
	"PostmanRuntime/",
	"insomnia/",
	"Apache-HttpClient/",
	"Java/",
	"Dart/",
	"(dart:io)",
	"CFNetwork/",
	" Darwin/",
	"apollo",
	"graphql",
	"Linux",
	"Windows",
	"Android",
	"Macintosh",
}

const uaCodeBase = 0x80

func init() {
	if len(uaFragments) > 256-uaCodeBase {
		panic("redisstore: too many user agent fragments")
	}
}

// uaByFirst lists, for each first byte, the fragments that start with it, longest first, so
// that the encoder takes the longest match at each position.
var uaByFirst = func() (m [uaCodeBase][]byte) {
	for code, f := range uaFragments {
		if f == "" || f[0] >= uaCodeBase {
			panic("redisstore: bad user agent fragment")
		}
		m[f[0]] = append(m[f[0]], byte(code))
	}
	for _, codes := range m {
		slices.SortStableFunc(codes, func(a, b byte) int {
			return cmp.Compare(len(uaFragments[b]), len(uaFragments[a]))
		})
	}
	return m
}()

// packUserAgent appends ua's dictionary coding to b, and reports false (appending nothing)
// when ua cannot be coded because it is not ASCII.
func packUserAgent(b []byte, ua string) ([]byte, bool) {
	for i := 0; i < len(ua); i++ {
		if ua[i] >= uaCodeBase {
			return b, false
		}
	}
	for i := 0; i < len(ua); {
		c := ua[i]
		matched := false
		for _, code := range uaByFirst[c] {
			if f := uaFragments[code]; strings.HasPrefix(ua[i:], f) {
				b = append(b, uaCodeBase+code)
				i += len(f)
				matched = true
				break
			}
		}
		if !matched {
			b = append(b, c)
			i++
		}
	}
	return b, true
}

var errBadUACode = errors.New("unknown user agent fragment")

// unpackUserAgent expands a dictionary-coded user agent.
func unpackUserAgent(p []byte) (string, error) {
	n := len(p)
	for _, c := range p {
		if c >= uaCodeBase {
			if int(c-uaCodeBase) >= len(uaFragments) {
				return "", errBadUACode
			}
			n += len(uaFragments[c-uaCodeBase]) - 1
		}
	}
	var sb strings.Builder
	sb.Grow(n)
	for _, c := range p {
		if c >= uaCodeBase {
			sb.WriteString(uaFragments[c-uaCodeBase])
		} else {
			sb.WriteByte(c)
		}
	}
	return sb.String(), nil
}
