package lint_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sipnatlab/sipnatlab/harness/lint"
)

// FuzzCheck feeds arbitrary scripts to Check: it must never panic, and every
// error must say the input is not a readable script.
func FuzzCheck(f *testing.F) {
	for _, proxy := range []string{"kamailio", "opensips"} {
		for _, name := range []string{"none", "excessive", "correct"} {
			src, err := os.ReadFile(filepath.Join("..", "..", "fixtures", proxy, name+".cfg"))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	f.Add([]byte("route { if (x) { route(a); } else if (y) fix_nated_contact(); }\nroute[a] { route(a); }"))
	f.Add([]byte("onreply_route { switch ($rs) { case 200: fix_nated_contact(); break; } }"))
	f.Fuzz(func(t *testing.T, src []byte) {
		r, err := lint.Check("fuzz.cfg", src)
		if err != nil {
			if !errors.Is(err, lint.ErrBadScript) {
				t.Fatalf("error does not wrap ErrBadScript: %v", err)
			}
			return
		}
		for _, f := range r.Findings {
			if f.Line < 1 {
				t.Fatalf("finding without a line: %v", f)
			}
		}
	})
}
