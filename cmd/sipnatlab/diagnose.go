package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sipnatlab/sipnatlab/harness/field"
	"github.com/sipnatlab/sipnatlab/harness/report"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

func diagnoseCommand() *command {
	return &command{
		name:    "diagnose",
		args:    "CAPTURE...",
		summary: "diagnose pcap/pcapng captures taken in the field",
		help: `Diagnoses pcap and pcapng captures taken in the field (tcpdump, Wireshark,
sngrep; several files are several vantage points of one incident, merged by
time): for every INVITE dialog whether the ACK for the 2xx reached the
callee, where it was last seen, the Contact of the 200 OK at each hop, the
hop that broke it and the fix, in the words of sipnatlab run, with what the
capture shows for certain and what is inferred.

Exit codes: 0 no call lost its ACK, 1 a call lost its ACK, 2 unreadable
input (what was readable before the damage is still diagnosed).`,
		flags: func(fs *pflag.FlagSet) func(context.Context, *env, []string) int {
			var o diagnoseOptions
			fs.BoolVar(&o.json, "json", false, "print the JSON verdict, with the evidence, instead of the text report")
			fs.StringVar(&o.html, "html", "", "write the HTML ladder to `FILE`")
			fs.StringVar(&o.hosts, "hosts", "", "name addresses: a `FILE` of \"ADDRESS NAME\" lines (# comments)")
			fs.StringVar(&o.scenario, "scenario", "", "take host and NAT names, roles and NATs from a scenario `FILE`")
			fs.StringVar(&o.scenarioOut, "scenario-out", "", "write a scenario reproducing the incident to `FILE`")
			return func(ctx context.Context, e *env, args []string) int {
				if len(args) == 0 {
					return e.usageError("no capture file given")
				}
				return diagnose(ctx, e, args, o)
			}
		},
	}
}

type diagnoseOptions struct {
	json                               bool
	html, hosts, scenario, scenarioOut string
}

func diagnose(ctx context.Context, e *env, files []string, o diagnoseOptions) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(e.stderr, "sipnatlab diagnose: "+format+"\n", a...)
		return 2
	}
	outs := append(outputsOf("--html", o.html, []string{"diagnosis"}), outputsOf("--scenario-out", o.scenarioOut, []string{"diagnosis"})...)
	if err := checkOutputs(outs, files, "capture"); err != nil {
		return fail("%v", err)
	}
	var opts field.Options
	if o.hosts != "" {
		names, err := readHosts(o.hosts)
		if err != nil {
			return fail("--hosts: %v", err)
		}
		opts.Names = names
	}
	if o.scenario != "" {
		s, err := scenario.Load(o.scenario)
		if err != nil {
			return fail("--scenario: %v", err)
		}
		opts.Scenario = s
	}
	d, err := field.Diagnose(ctx, files, opts)
	if err != nil {
		return fail("%v", err)
	}
	res := d.Result
	if o.json {
		v := diagnoseJSON{Verdict: report.Verdict{SchemaVersion: report.SchemaVersion, Scenarios: []report.ScenarioVerdict{report.NewScenarioVerdict(res.Scenario, res, nil)}},
			Evidence: d.Evidence, NATs: d.NATs, T1ms: d.Timers.T1.Milliseconds(), T2ms: d.Timers.T2.Milliseconds(),
			Packets: d.Packets, MaxOpen: d.MaxOpenDialogs}
		for _, err := range d.Errors {
			v.Errors = append(v.Errors, err.Error())
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			return fail("%v", err)
		}
	} else {
		report.WriteText(e.stdout, res.Scenario, res, nil, report.TextOptions{Color: e.term})
		d.WriteEvidence(e.stdout, 20)
	}
	if o.html != "" {
		if err := writeHTML(o.html, res.Scenario, res, nil); err != nil {
			return fail("%v", err)
		}
	}
	if o.scenarioOut != "" {
		if err := writeFile("--scenario-out", o.scenarioOut, d.WriteScenario); err != nil {
			return fail("%v", err)
		}
	}
	for _, err := range d.Errors {
		fmt.Fprintf(e.stderr, "sipnatlab diagnose: %v\n", err)
	}
	switch {
	case len(d.Errors) > 0:
		return 2
	case d.Lost():
		return 1
	}
	return 0
}

// diagnoseJSON is the JSON of diagnose: run's verdict, and the capture's evidence.
type diagnoseJSON struct {
	report.Verdict
	Evidence []field.CallEvidence `json:"evidence"`
	NATs     []field.InferredNAT  `json:"inferred_nats"`
	T1ms     int64                `json:"t1_ms_estimated"`
	T2ms     int64                `json:"t2_ms_estimated"`
	Packets  int                  `json:"packets"`
	MaxOpen  int                  `json:"max_open_dialogs"`
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
