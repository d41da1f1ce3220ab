package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/sipnatlab/sipnatlab/harness/report"
)

const judgeUsage = `usage: sipnatlab judge [--json] [--html FILE] CAPTURE.pcapng...

Judges again a capture that "sipnatlab run --pcap" wrote, from the capture
alone: the same report (or, with --json, the same JSON verdict) as the run
that wrote it. The file carries the scenario's topology, host names and the
typed cause of every drop.

  --json     print the JSON verdict instead of the text report
  --html     write the HTML ladder to FILE (several captures: one page
             each, named FILE with -SCENARIO inserted before the extension)

Exit codes: 0 every expectation held, 1 an expectation failed (or the run
had failed), 2 bad input (unreadable file, not a sipnatlab capture).
`

func cmdJudge(args []string, stdout, stderr io.Writer, text report.TextOptions) int {
	fs := flag.NewFlagSet("judge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the JSON verdict")
	htmlFile := fs.String("html", "", "write the HTML ladder to `FILE`")
	fs.Usage = func() { fmt.Fprint(stderr, judgeUsage) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintf(stderr, "sipnatlab judge: no capture file given\n%s", judgeUsage)
		return 2
	}
	var all []outcome
	for _, name := range fs.Args() {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "sipnatlab judge: %v\n", err)
			return 2
		}
		res, runErr, err := report.ReadPcap(f)
		_ = f.Close()
		if err != nil {
			fmt.Fprintf(stderr, "sipnatlab judge: %s: %v\n", name, err)
			return 2
		}
		all = append(all, outcome{res.Scenario, res, runErr})
	}
	var names []string
	for _, o := range all {
		names = append(names, o.s.Name)
	}
	if err := checkOutputs(outputsOf("--html", *htmlFile, names), fs.Args(), "capture"); err != nil {
		fmt.Fprintf(stderr, "sipnatlab judge: %v\n", err)
		return 2
	}
	code, err := printVerdicts(stdout, all, *asJSON, text)
	if err != nil {
		fmt.Fprintf(stderr, "sipnatlab judge: %v\n", err)
		return 2
	}
	if err := writeHTMLs(*htmlFile, all); err != nil {
		fmt.Fprintf(stderr, "sipnatlab judge: %v\n", err)
		return 2
	}
	return code
}
