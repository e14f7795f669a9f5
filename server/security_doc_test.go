package main

import (
	"os"
	"regexp"
	"testing"
)

// SECURITY.md proves each ASVS requirement with a test by name: every test and fuzz target
// it names must exist, so that renaming or deleting one cannot leave the table pointing at
// nothing.
func TestSecurityMDCitesTestsThatExist(t *testing.T) {
	doc, err := os.ReadFile("../SECURITY.md")
	if err != nil {
		t.Fatal(err)
	}
	defined := definedTests(t)
	cited := regexp.MustCompile("`((?:Test|Fuzz)[A-Z]\\w*)`").FindAllStringSubmatch(string(doc), -1)
	if len(cited) < 30 {
		t.Fatalf("SECURITY.md cites %d tests; its table cites far more", len(cited))
	}
	for _, c := range cited {
		if _, ok := defined[c[1]]; !ok {
			t.Errorf("SECURITY.md cites %s, which no test file defines", c[1])
		}
	}
}
