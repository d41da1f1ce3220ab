package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/spf13/pflag"
	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/realproxy"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

func runCommand() *command {
	return &command{
		name:    "run",
		args:    "FILE|DIR...",
		summary: "run scenarios, print each ladder and verdict",
		help: `Runs each scenario (a YAML file, or every *.yaml in a directory) on virtual
hosts, NAT boxes and proxies, prints a ladder of every hop and the verdict:
what became of each call (answered, ACK lost where, who is to blame) and
whether the scenario's expectations held.

In real time, on a terminal, a progress line on stderr says which call runs
and what it waits for, with a countdown to the callee's ACK timeout.

Exit codes: 0 every expectation held, 1 an expectation failed, 2 bad input.`,
		flags: func(fs *pflag.FlagSet) func(context.Context, *env, []string) int {
			rf := addRunFlags(fs)
			return func(ctx context.Context, e *env, args []string) int {
				return runScenarios(ctx, e, rf, nil, args)
			}
		},
	}
}

// runFlags are the flags run and validate share.
type runFlags struct {
	asJSON, verbose, inProcess bool
	clock, pcap, pcapDir, html string
	seed                       uint64
}

func addRunFlags(fs *pflag.FlagSet) *runFlags {
	rf := &runFlags{}
	fs.BoolVar(&rf.asJSON, "json", false, "print the JSON verdict (schema/verdict.schema.json) instead of the text report")
	fs.StringVar(&rf.clock, "clock", string(harness.RealTime), "the `CLOCK`: real, loopback UDP sockets in real time; simulated, an in-memory carrier and a virtual clock, so the RFC timers (32 s for a lost ACK) pass instantly")
	fs.StringVar(&rf.pcap, "pcap", "", "write the capture (every datagram once per wire segment it crossed, virtual addresses, one interface per segment) as pcapng to `FILE`; with several scenarios, one file each, named FILE with -SCENARIO inserted before the extension")
	fs.StringVar(&rf.pcapDir, "pcap-dir", "", "write one pcap per host and NAT to `DIR` (created if missing), DIR/HOST.pcap, as a tcpdump on it would capture; several scenarios: named as for --pcap")
	fs.StringVar(&rf.html, "html", "", "write a self-contained HTML ladder (click an arrow for the SIP message) to `FILE`; several scenarios: one page each, named as for --pcap, and FILE the index of them")
	fs.BoolVarP(&rf.verbose, "verbose", "v", false, "print every UA and proxy event to stderr as it happens")
	fs.BoolVar(&rf.inProcess, "in-process", false, "keep every proxy in process even where the scenario names an engine (simulated time always does)")
	fs.Uint64Var(&rf.seed, "seed", 0, "`N`, the seed of every Call-ID, tag and branch, printed in the report: a simulated run with the same scenario and seed gives the same report, JSON and pcapng byte for byte (0: 1 in simulated time, random in real time)")
	return rf
}

// runScenarios loads the scenarios args names and runs them all at once, with the
// real proxy containers validate puts in place of in-process proxies (nil for run),
// then prints their verdicts and writes the files the flags ask for.
func runScenarios(ctx context.Context, e *env, rf *runFlags, containers map[string]harness.Container, args []string) int {
	mode, err := harness.ParseClockMode(rf.clock)
	if err != nil {
		return e.usageError("--clock: %v", err)
	}
	if containers != nil && mode == harness.Simulated {
		return e.usageError("a real proxy runs in real time only")
	}
	if len(args) == 0 {
		return e.usageError("no scenario file or directory given")
	}
	// Until the runs start, an interrupt has nothing to report: it ends the process.
	e.irq.setNotice("")
	// Real proxies (validate, or engine keys in a scenario) start with
	// testcontainers-go: no registry here, so no reaper image, and its log
	// only with -v.
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	if !rf.verbose {
		tclog.SetDefault(tclog.NewNoopLogger())
	}
	scenarios, err := loadAll(args)
	if err != nil {
		return e.fail(2, err)
	}
	var names, inputs []string
	for _, sc := range scenarios {
		names, inputs = append(names, sc.Name), append(inputs, sc.File)
	}
	for _, sc := range scenarios {
		if err := checkHosts(sc, containers); err != nil {
			fmt.Fprintf(e.stderr, "sipnatlab validate: %v\n", err)
			return 2
		}
	}
	if rf.pcapDir != "" {
		// What it makes goes again if the outputs are refused, or nothing is written there.
		defer e.irq.removeEmptyDirs()
		if err := e.irq.mkdirAll(rf.pcapDir); err != nil {
			return e.fail(2, fmt.Errorf("--pcap-dir: %w", err))
		}
	}
	// The real proxies' logs go beside the capture, else beside the HTML page.
	logs := proxyLogFiles(scenarios, containers, rf, mode)
	outs := slices.Concat(outputsOf("--pcap", rf.pcap, names), outputsOf("--html", rf.html, names), logOutputs(logs))
	outs = append(append(outs, htmlIndexOutputs(rf.html, names)...), pcapDirOutputs(rf.pcapDir, scenarios)...)
	if err := checkOutputs(outs, inputs, "scenario file"); err != nil {
		return e.fail(2, err)
	}

	if containers != nil {
		fmt.Fprintf(e.stderr, "sipnatlab: running %d scenario(s) in real time with %s, each in a container with no network but what this process relays; interrupt to stop and report what was captured so far\n", len(scenarios), describe(containers))
	}
	if containers == nil && mode != harness.Simulated && !rf.inProcess && usesEngine(scenarios) {
		fmt.Fprintf(e.stderr, "sipnatlab: running %d scenario(s) in real time, with the real proxies their engine keys name, each in a container with no network but what this process relays; interrupt to stop and report what was captured so far\n", len(scenarios))
	} else if containers == nil && mode != harness.Simulated {
		// Real time takes as long as the RFC timers (32 s for a lost ACK):
		// say so, and that an interrupt still reports what was captured.
		fmt.Fprintf(e.stderr, "sipnatlab: running %d scenario(s) in real time on loopback; interrupt to stop and report what was captured so far\n", len(scenarios))
	}
	what := "the report"
	if len(outs) > 0 {
		what = "the report and the files"
	}
	e.irq.setNotice("sipnatlab: interrupted: stopping the runs, then writing " + what + " of what ran (interrupt again to stop at once)")
	// On a terminal, a real-time run shows what each scenario waits for (-v prints
	// every event instead); piped, it prints nothing more.
	var prog *progress
	stopProgress := func() {}
	if !rf.verbose {
		prog, stopProgress = startProgress(e, mode, scenarios)
	}
	outcomes := make([]outcome, len(scenarios))
	var wg sync.WaitGroup
	var events sync.Mutex
	proxies := e.irq.realProxies(realproxy.Docker{})
	for i, s := range scenarios {
		wg.Go(func() {
			opts := harness.Options{Clock: mode, Containers: containers, InProcess: rf.inProcess, Seed: rf.seed, Proxies: proxies}
			switch {
			case rf.verbose:
				start := time.Now()
				opts.Observe = func(ev harness.Event) {
					events.Lock()
					defer events.Unlock()
					at := ev.Time.Sub(start)
					if mode == harness.Simulated {
						at = 0 // simulated instants are in the report; live order is what matters here
					}
					fmt.Fprintf(e.stderr, "%s %8.3f %-8s %-16s %s\n", s.Name, at.Seconds(), ev.Host, ev.Kind, ev.Detail)
				}
			case prog != nil:
				opts.Observe = func(ev harness.Event) { prog.observe(s.Name, ev) }
			}
			res, err := harness.Run(ctx, s, opts)
			if prog != nil {
				prog.finish(s.Name)
			}
			outcomes[i] = outcome{s, res, err}
		})
	}
	wg.Wait()
	stopProgress()
	defer closeCaptures(outcomes)

	code, err := printVerdicts(e, outcomes, rf.asJSON)
	if err != nil {
		return e.fail(2, err)
	}
	if rf.pcap != "" {
		// Every run that produced a Result has a capture, a failed one too.
		for _, o := range outcomes {
			if o.res == nil {
				continue
			}
			if err := writePcap(e.irq, outputName(rf.pcap, o.s.Name, len(outcomes)), o.res, o.err); err != nil {
				return e.fail(2, err)
			}
		}
	}
	for _, o := range outcomes {
		if err := writeProxyLogs(e.irq, logs[o.s.Name], o.res); err != nil {
			return e.fail(2, err)
		}
	}
	if err := writeHTMLs(e.irq, rf.html, outcomes); err != nil {
		return e.fail(2, err)
	}
	if err := errors.Join(writeHTMLIndex(e.irq, rf.html, outcomes), writePcapDir(e.irq, rf.pcapDir, outcomes)); err != nil {
		return e.fail(2, err)
	}
	if ctx.Err() != nil {
		fmt.Fprintln(e.stderr, "sipnatlab: interrupted")
		return max(code, 1)
	}
	return code
}

// usesEngine reports whether a scenario puts a real proxy in a host's place.
func usesEngine(scenarios []*scenario.Scenario) bool {
	for _, s := range scenarios {
		for _, h := range s.Hosts {
			if h.Engine != "" {
				return true
			}
		}
	}
	return false
}

// loadAll loads every named file and every *.yaml/*.yml in named directories.
func loadAll(paths []string) ([]*scenario.Scenario, error) {
	var out []*scenario.Scenario
	names := map[string]string{}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("load scenario %q: %w", p, err)
		}
		var batch []*scenario.Scenario
		if st.IsDir() {
			batch, err = scenario.LoadDir(p)
		} else {
			var s *scenario.Scenario
			s, err = scenario.Load(p)
			batch = []*scenario.Scenario{s}
		}
		if err != nil {
			return nil, err
		}
		for _, s := range batch {
			if prev, dup := names[s.Name]; dup && prev != s.File {
				return nil, fmt.Errorf("load scenario %q: name %q already used by %q", s.File, s.Name, prev)
			}
			names[s.Name] = s.File
			out = append(out, s)
		}
	}
	return out, nil
}
