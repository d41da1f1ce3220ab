package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/sipnatlab/sipnatlab/harness/lint"
)

const lintUsage = `usage: sipnatlab lint [--json] CONFIG...

Reads Kamailio or OpenSIPS routing scripts and flags the two NAT pitfalls
that lose the ACK for a NATed callee's 200 OK:

  missing-reply-contact-fix        NAT is handled on requests, but no reply
                                   route ever fixes a reply's Contact
  unconditional-reply-contact-fix  a reply route fixes the Contact of every
                                   reply, also of replies relayed by a proxy

Findings print as FILE:LINE: RULE: MESSAGE.

  --json   print {"files": [{"file", "dialect", "findings": [...]}]} instead

Exit codes: 0 no findings, 1 findings, 2 a file is unreadable or not a script.
`

// cmdLint runs sipnatlab lint. Every file is checked even when an earlier
// one is bad, so one run reports everything it can.
func cmdLint(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print findings as JSON")
	fs.Usage = func() { fmt.Fprint(stderr, lintUsage) }
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintf(stderr, "sipnatlab lint: no config file given\n%s", lintUsage)
		return 2
	}
	code := 0
	reports := []*lint.Report{}
	for _, path := range fs.Args() {
		r, err := lint.CheckFile(path)
		if err != nil {
			fmt.Fprintf(stderr, "sipnatlab: %v\n", err)
			code = 2
			continue
		}
		reports = append(reports, r)
		if len(r.Findings) > 0 && code == 0 {
			code = 1
		}
		if !*asJSON {
			for _, f := range r.Findings {
				fmt.Fprintln(stdout, f)
			}
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Files []*lint.Report `json:"files"`
		}{reports}); err != nil {
			fmt.Fprintf(stderr, "sipnatlab: %v\n", err)
			return 2
		}
	}
	return code
}
