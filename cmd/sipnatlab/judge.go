package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/sipnatlab/sipnatlab/harness/report"
)

func judgeCommand() *command {
	return &command{
		name:    "judge",
		args:    "CAPTURE.pcapng...",
		summary: "judge again a capture that run --pcap wrote",
		help: `Judges again a capture that "sipnatlab run --pcap" wrote, from the capture
alone: the same report (or, with --json, the same JSON verdict) as the run
that wrote it. The file carries the scenario's topology, host names and the
typed cause of every drop.

Exit codes: 0 every expectation held, 1 an expectation failed (or the run
had failed), 2 bad input (unreadable file, not a sipnatlab capture).`,
		flags: func(fs *pflag.FlagSet) func(context.Context, *env, []string) int {
			asJSON := fs.Bool("json", false, "print the JSON verdict instead of the text report")
			html := fs.String("html", "", "write the HTML ladder to `FILE` (several captures: one page each, named FILE with -SCENARIO inserted before the extension)")
			return func(_ context.Context, e *env, args []string) int {
				if len(args) == 0 {
					return e.usageError("no capture file given")
				}
				return judge(e, args, *asJSON, *html)
			}
		},
	}
}

func judge(e *env, files []string, asJSON bool, htmlFile string) int {
	var all []outcome
	defer func() { closeCaptures(all) }()
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(e.stderr, "sipnatlab judge: %v\n", err)
			return 2
		}
		res, runErr, err := report.ReadPcap(f)
		_ = f.Close()
		if err != nil {
			fmt.Fprintf(e.stderr, "sipnatlab judge: %s: %v\n", name, err)
			return 2
		}
		all = append(all, outcome{res.Scenario, res, runErr})
	}
	var names []string
	for _, o := range all {
		names = append(names, o.s.Name)
	}
	if err := checkOutputs(outputsOf("--html", htmlFile, names), files, "capture"); err != nil {
		fmt.Fprintf(e.stderr, "sipnatlab judge: %v\n", err)
		return 2
	}
	code, err := printVerdicts(e, all, asJSON)
	if err != nil {
		fmt.Fprintf(e.stderr, "sipnatlab judge: %v\n", err)
		return 2
	}
	if err := writeHTMLs(e.irq, htmlFile, all); err != nil {
		fmt.Fprintf(e.stderr, "sipnatlab judge: %v\n", err)
		return 2
	}
	return code
}
