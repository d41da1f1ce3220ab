package main

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sipnatlab/sipnatlab/harness/field"
	judgepkg "github.com/sipnatlab/sipnatlab/harness/judge"
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

// keptCalls is how many calls a diagnosis keeps for the ladder, the call details
// and the headline of the text and HTML reports: those of the first calls, as run
// details a load's (report's maxDetailedCalls); the others only stream out.
const keptCalls = 3

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
	// Every call goes out as soon as it is judged; the Diagnosis keeps the first
	// few, for the ladder and the headline.
	opts.Keep = keptCalls
	var js *field.JSONStream
	shown, maxShown := map[string]bool{}, 20
	if o.json {
		var err error
		if js, err = field.NewJSONStream(e.stdout); err != nil {
			return fail("--json: %v", err)
		}
		opts.OnCall = js.Call
	} else {
		// Text: the evidence of the calls that lost their ACK, as they are judged.
		opts.OnCall = func(f judgepkg.CallFacts, ev field.CallEvidence) {
			if f.Answered && !f.ACKAtCallee && len(shown) < maxShown {
				shown[f.CallID] = true
				field.WriteCallEvidence(e.stdout, f, ev)
			}
		}
	}
	d, err := field.Diagnose(ctx, files, opts)
	if err != nil {
		if js != nil {
			js.Discard()
		}
		return fail("%v", err)
	}
	res := d.Result
	defer closeCapture(res)
	if o.json {
		if err := js.Finish(d); err != nil {
			return fail("--json: %v", err)
		}
	} else {
		report.WriteText(e.stdout, res.Scenario, res, nil, report.TextOptions{Color: e.term})
		d.WriteSummary(e.stdout)
		// The kept calls whose evidence did not stream (their ACK arrived).
		for i, f := range d.Calls {
			if !shown[f.CallID] && len(shown) < maxShown {
				shown[f.CallID] = true
				field.WriteCallEvidence(e.stdout, f, d.Evidence[i])
			}
		}
		if n := d.Tally.Calls - len(shown); n > 0 {
			fmt.Fprintf(e.stdout, "  (evidence of %d more calls left out; --json has it all)\n", n)
		}
		d.WriteErrors(e.stdout)
	}
	if o.html != "" {
		if err := writeHTML(e.irq, o.html, res.Scenario, res, nil); err != nil {
			return fail("%v", err)
		}
	}
	if o.scenarioOut != "" {
		if err := e.irq.writeFile("--scenario-out", o.scenarioOut, d.WriteScenario); err != nil {
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
