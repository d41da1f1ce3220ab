package matrix_test

import (
	"errors"
	"os"
	"testing"

	"github.com/sipnatlab/sipnatlab/harness/matrix"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// FuzzParse: a template never panics the loader, and every error it returns is a
// LoadError naming the file.
func FuzzParse(f *testing.F) {
	bundledData, err := os.ReadFile(bundled)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(bundledData)
	f.Add([]byte(base + "  axes:\n    x: {path: timers.t1, values: [1s, 2s]}\n"))
	f.Add([]byte(base + "  axes:\n    x: {path: 'steps[0].register', values: [bob]}\n  columns: x\n"))
	f.Add([]byte(base + "  axes: {x: {path: [hosts.bob.keep-alive.interval, hosts.alice.role], values: [5s]}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tpl, err := matrix.Parse("f.yaml", data)
		if err != nil {
			var le *scenario.LoadError
			if !errors.As(err, &le) || le.File != "f.yaml" {
				t.Fatalf("not a LoadError naming the file: %v", err)
			}
			return
		}
		for i := range tpl.Len() {
			if c, err := tpl.Cell(i); err != nil || c.Scenario == nil {
				t.Fatalf("cell %d of a template that parsed: %v", i, err)
			}
		}
	})
}

// FuzzParsePath: what ParsePath accepts, String writes back as it was.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"nats.home-nat.filtering", "steps[1].call.talk", "a[0][1].b", "x[", "[0]", "a..b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := matrix.ParsePath(s)
		if err != nil {
			return
		}
		if p.String() != s {
			t.Fatalf("ParsePath(%q).String() = %q", s, p.String())
		}
	})
}
