package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"github.com/sipnatlab/sipnatlab/harness/field"
	"github.com/sipnatlab/sipnatlab/harness/report"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

const diagnoseUsage = `usage: sipnatlab diagnose [--json] [--html FILE] [--hosts FILE] [--scenario FILE] [--scenario-out FILE] CAPTURE...

Diagnoses pcap and pcapng captures taken in the field (tcpdump, Wireshark,
sngrep; several files are several vantage points of one incident, merged by
time): for every INVITE dialog whether the ACK for the 2xx reached the
callee, where it was last seen, the Contact of the 200 OK at each hop, the
hop that broke it and the fix, in the words of sipnatlab run, with what the
capture shows for certain and what is inferred.

  --json          print the JSON verdict (with the evidence) instead of text
  --html          write the HTML ladder to FILE
  --hosts         name addresses: a file of "ADDRESS NAME" lines (# comments)
  --scenario      take host and NAT names, roles and NATs from a scenario file
  --scenario-out  write a scenario reproducing the incident to FILE

Exit codes: 0 no call lost its ACK, 1 a call lost its ACK, 2 unreadable
input (what was readable before the damage is still diagnosed).
`

func cmdDiagnose(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("diagnose", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the JSON verdict")
	htmlFile := fs.String("html", "", "write the HTML ladder to `FILE`")
	hostsFile := fs.String("hosts", "", "a `FILE` of ADDRESS NAME lines")
	scenarioFile := fs.String("scenario", "", "a scenario `FILE` naming hosts and NATs")
	scenarioOut := fs.String("scenario-out", "", "write a reproducing scenario to `FILE`")
	fs.Usage = func() { fmt.Fprint(stderr, diagnoseUsage) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintf(stderr, "sipnatlab diagnose: no capture file given\n%s", diagnoseUsage)
		return 2
	}
	outs := append(outputsOf("--html", *htmlFile, []string{"diagnosis"}), outputsOf("--scenario-out", *scenarioOut, []string{"diagnosis"})...)
	if err := checkOutputs(outs, fs.Args(), "capture"); err != nil {
		fmt.Fprintf(stderr, "sipnatlab diagnose: %v\n", err)
		return 2
	}
	var o field.Options
	if *hostsFile != "" {
		names, err := readHosts(*hostsFile)
		if err != nil {
			fmt.Fprintf(stderr, "sipnatlab diagnose: --hosts: %v\n", err)
			return 2
		}
		o.Names = names
	}
	if *scenarioFile != "" {
		s, err := scenario.Load(*scenarioFile)
		if err != nil {
			fmt.Fprintf(stderr, "sipnatlab diagnose: --scenario: %v\n", err)
			return 2
		}
		o.Scenario = s
	}
	d, err := field.Diagnose(fs.Args(), o)
	if err != nil {
		fmt.Fprintf(stderr, "sipnatlab diagnose: %v\n", err)
		return 2
	}
	if *asJSON {
		v := diagnoseJSON{Verdict: report.Verdict{Scenarios: []report.ScenarioVerdict{report.NewScenarioVerdict(d.Result.Scenario, d.Result, nil)}},
			Evidence: d.Evidence, NATs: d.NATs, T1ms: d.Timers.T1.Milliseconds(), T2ms: d.Timers.T2.Milliseconds()}
		for _, e := range d.Errors {
			v.Errors = append(v.Errors, e.Error())
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			fmt.Fprintf(stderr, "sipnatlab diagnose: %v\n", err)
			return 2
		}
	} else {
		report.WriteText(stdout, d.Result.Scenario, d.Result, nil, report.TextOptions{})
		d.WriteEvidence(stdout, 20)
	}
	if *htmlFile != "" {
		if err := writeHTML(*htmlFile, d.Result.Scenario, d.Result, nil); err != nil {
			fmt.Fprintf(stderr, "sipnatlab diagnose: %v\n", err)
			return 2
		}
	}
	if *scenarioOut != "" {
		if err := writeFile(*scenarioOut, d.WriteScenario); err != nil {
			fmt.Fprintf(stderr, "sipnatlab diagnose: --scenario-out: %v\n", err)
			return 2
		}
	}
	for _, e := range d.Errors {
		fmt.Fprintf(stderr, "sipnatlab diagnose: %v\n", e)
	}
	switch {
	case len(d.Errors) > 0:
		return 2
	case d.Lost():
		return 1
	}
	_ = ctx
	return 0
}

// diagnoseJSON is the JSON of diagnose: run's verdict, and the capture's evidence.
type diagnoseJSON struct {
	report.Verdict
	Evidence []field.CallEvidence `json:"evidence"`
	NATs     []field.InferredNAT  `json:"inferred_nats"`
	T1ms     int64                `json:"t1_ms_estimated"`
	T2ms     int64                `json:"t2_ms_estimated"`
	Errors   []string             `json:"errors,omitempty"`
}

// readHosts reads "ADDRESS NAME" lines (blank lines and # comments skipped).
func readHosts(file string) (map[netip.Addr]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names := map[netip.Addr]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 2 {
			return nil, fmt.Errorf("%s: line %d: want ADDRESS NAME, got %q", file, n, strings.TrimSpace(line))
		}
		a, err := netip.ParseAddr(fields[0])
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: %q is not an IP address", file, n, fields[0])
		}
		names[a.Unmap()] = fields[1]
	}
	return names, sc.Err()
}

// writeFile creates name and writes it with write.
func writeFile(name string, write func(io.Writer) error) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
