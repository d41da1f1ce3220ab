// Command sipnatlab runs SIP NAT scenarios on a simulated network and judges
// whether the ACK for the callee's 200 OK arrived, and if not, who lost it.
//
// Usage:
//
//	sipnatlab run [--json] [--clock real|simulated] [--pcap FILE] [--html FILE] FILE|DIR...
//	sipnatlab explain [--clock simulated|real] FILE
//	sipnatlab lint [--json] [--engine-check] CONFIG...
//	sipnatlab judge [--json] [--html FILE] CAPTURE.pcapng...
//
// Exit codes: 0 every expectation held, 1 some expectation failed, 2 bad
// input or usage.
package main

import (
	"context"

	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"sync"
	"syscall"
	"time"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/realproxy"
	"github.com/sipnatlab/sipnatlab/harness/report"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

const usage = `usage: sipnatlab run [--json] [--clock real|simulated] [--pcap FILE] [--html FILE] [--seed N] [-v] [--in-process] FILE|DIR...
       sipnatlab validate [--engine kamailio|opensips] --config FILE --as HOST [--image IMAGE] [run flags] FILE|DIR...
       sipnatlab explain [--clock simulated|real] FILE
       sipnatlab lint [--json] [--engine-check] CONFIG...
       sipnatlab judge [--json] [--html FILE] CAPTURE.pcapng...
       sipnatlab matrix [--json] [--html DIR] [--emit DIR] [--shard I/N] [--proxy HOST=ENGINE:CONFIG] TEMPLATE.yaml
       sipnatlab matrix merge [--json] SHARD.json...

Runs each scenario on virtual hosts, NAT boxes and proxies, prints a ladder
of every hop and the verdict.

  --json     print the JSON verdict instead of the text report
  --clock    real (default): loopback UDP sockets, real time;
             simulated: in-memory carrier and a virtual clock, so the
             RFC timers (32 s for a lost ACK) pass instantly
  --pcap     write the capture (every datagram at every hop, virtual
             addresses, one interface per host and NAT) as pcapng to
             FILE; with several scenarios, one file each, named FILE with
             -SCENARIO inserted before the extension
  --html     write a self-contained HTML ladder (click an arrow for the
             SIP message) to FILE; several scenarios: one page each, named
             as for --pcap
  -v         print every UA and proxy event to stderr as it happens
  --in-process  keep every proxy in process even where the scenario names
             an engine (simulated time always does)
  --seed N   seed of every Call-ID, tag and branch, printed in the report:
             a simulated run with the same scenario and seed gives the same
             report, JSON and pcapng byte for byte (default: 1 in simulated
             time, random in real time)

validate runs the scenarios with a real proxy in a container (built
locally, on an internal Docker network) in place of the in-process proxy
HOST, in real time, and prints the same report and verdict. The images:
sipnatlab/kamailio:5.6 and sipnatlab/opensips:3.6, built locally (make image);
--image, or SIPNATLAB_OPENSIPS_IMAGE for opensips, names another (e.g. the
official opensips/opensips:3.6 where a registry answers).

explain tells one scenario's first call step by step for learners, in
simulated time unless --clock real is given.

judge judges again a capture that run --pcap wrote, from the capture alone,
and prints the same report or JSON verdict as the run.

matrix sweeps a template's axes (a scenario with a matrix: block) and prints
a table of every cell's outcome; sipnatlab matrix --help says more.

lint reads Kamailio or OpenSIPS scripts and flags reply routes that never
fix a NATed callee's Contact or fix every reply's Contact; exit code 1 when
it finds something, 0 when clean, 2 when a file is not a readable script.

Exit codes: 0 every expectation held, 1 an expectation failed, 2 bad input.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command args and returns its exit code. Whatever it writes to stdout and
// stderr passes through report.TerminalSafe: scenario files, SIP messages and captures
// carry strings written by anyone.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	term := isTerminal(stdout) && os.Getenv("NO_COLOR") == ""
	stdout, stderr = report.TerminalSafe(stdout, term), report.TerminalSafe(stderr, false)
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	switch args[0] {
	case "run":
		return cmdRun(ctx, "run", args[1:], stdout, stderr, term)
	case "validate":
		return cmdRun(ctx, "validate", args[1:], stdout, stderr, term)
	case "explain":
		return cmdExplain(ctx, args[1:], stdout, stderr)
	case "lint":
		return cmdLint(ctx, args[1:], stdout, stderr)
	case "judge":
		return cmdJudge(args[1:], stdout, stderr, term)
	case "matrix":
		return cmdMatrix(ctx, args[1:], stdout, stderr, term)
	default:
		fmt.Fprintf(stderr, "sipnatlab: unknown command %q\n%s", args[0], usage)
		return 2
	}
}

// cmdRun runs scenarios ("run"), or runs them with a real proxy container
// in place of one in-process proxy ("validate"); term says whether stdout takes colours.
func cmdRun(ctx context.Context, name string, args []string, stdout, stderr io.Writer, term bool) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var engine, config, as, image *string
	if name == "validate" {
		engine = fs.String("engine", string(scenario.EngineKamailio), "kamailio or opensips")
		config = fs.String("config", "", "the proxy's config `FILE`")
		as = fs.String("as", "", "the proxy `HOST` of the scenario the container replaces")
		image = fs.String("image", "", "the container `IMAGE` (default sipnatlab/kamailio:5.6, or for opensips $SIPNATLAB_OPENSIPS_IMAGE else sipnatlab/opensips:3.6)")
	}
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the JSON verdict")
	clockFlag := fs.String("clock", string(harness.RealTime), "real or simulated")
	verbose := fs.Bool("v", false, "print every UA and proxy event to stderr as it happens")
	inProcess := fs.Bool("in-process", false, "keep every proxy in process, even where the scenario names an engine")
	pcapFile := fs.String("pcap", "", "write the capture as pcapng to `FILE`")
	htmlFile := fs.String("html", "", "write the HTML ladder to `FILE`")
	seed := fs.Uint64("seed", 0, "seed of the Call-IDs, tags and branches (0: 1 in simulated time, random in real time)")
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	if err := fs.Parse(args); err != nil {
		return 2
	}
	mode, err := harness.ParseClockMode(*clockFlag)
	if err != nil {
		fmt.Fprintf(stderr, "sipnatlab %s: --clock: %v\n%s", name, err, usage)
		return 2
	}
	var containers map[string]harness.Container
	if name == "validate" {
		if *config == "" || *as == "" {
			fmt.Fprintf(stderr, "sipnatlab validate: --config and --as are required\n%s", usage)
			return 2
		}
		eng, err := scenario.ParseEngine(*engine)
		if err != nil {
			fmt.Fprintf(stderr, "sipnatlab validate: --engine %q: want kamailio or opensips\n%s", *engine, usage)
			return 2
		}
		if mode == harness.Simulated {
			fmt.Fprintf(stderr, "sipnatlab validate: a real proxy runs in real time only\n")
			return 2
		}
		img := *image
		if img == "" && eng == scenario.EngineOpenSIPS {
			img = os.Getenv("SIPNATLAB_OPENSIPS_IMAGE")
		}
		containers = map[string]harness.Container{*as: {Engine: eng, Config: *config, Image: img}}
	}
	// Real proxies (validate, or engine keys in a scenario) start with
	// testcontainers-go: no registry here, so no reaper image, and its log
	// only with -v.
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	if !*verbose {
		tclog.SetDefault(tclog.NewNoopLogger())
	}
	if fs.NArg() == 0 {
		fmt.Fprintf(stderr, "sipnatlab %s: no scenario file or directory given\n%s", name, usage)
		return 2
	}
	scenarios, err := loadAll(fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "sipnatlab: %v\n", err)
		return 2
	}
	var names, inputs []string
	for _, sc := range scenarios {
		names, inputs = append(names, sc.Name), append(inputs, sc.File)
	}
	if err := checkOutputs(append(outputsOf("--pcap", *pcapFile, names), outputsOf("--html", *htmlFile, names)...), inputs, "scenario file"); err != nil {
		fmt.Fprintf(stderr, "sipnatlab: %v\n", err)
		return 2
	}
	if containers != nil {
		for _, sc := range scenarios {
			if h, ok := sc.Host(*as); !ok || h.Role != scenario.RoleProxy {
				fmt.Fprintf(stderr, "sipnatlab validate: --as %s: scenario %q (%s) has no proxy host of that name\n", *as, sc.Name, sc.File)
				return 2
			}
		}
	}

	outcomes := make([]outcome, len(scenarios))
	if containers != nil {
		fmt.Fprintf(stderr, "sipnatlab: running %d scenario(s) in real time with %s (%s) as %s on an internal Docker network; interrupt to stop and report what was captured so far\n", len(scenarios), *engine, *config, *as)
	} else if mode != harness.Simulated && !*inProcess && usesEngine(scenarios) {
		fmt.Fprintf(stderr, "sipnatlab: running %d scenario(s) in real time, with the real proxies their engine keys name on an internal Docker network; interrupt to stop and report what was captured so far\n", len(scenarios))
	} else if mode != harness.Simulated {
		// Real time takes as long as the RFC timers (32 s for a lost ACK):
		// say so, and that an interrupt still reports what was captured.
		fmt.Fprintf(stderr, "sipnatlab: running %d scenario(s) in real time on loopback; interrupt to stop and report what was captured so far\n", len(scenarios))
	}
	var wg sync.WaitGroup
	var progress sync.Mutex
	for i, s := range scenarios {
		wg.Go(func() {
			opts := harness.Options{Clock: mode, Containers: containers, InProcess: *inProcess, Seed: *seed, Proxies: realproxy.Docker{}}
			if *verbose {
				start := time.Now()
				opts.Observe = func(e harness.Event) {
					progress.Lock()
					defer progress.Unlock()
					at := e.Time.Sub(start)
					if mode == harness.Simulated {
						at = 0 // simulated instants are in the report; live order is what matters here
					}
					fmt.Fprintf(stderr, "%s %8.3f %-8s %-16s %s\n", s.Name, at.Seconds(), e.Host, e.Kind, e.Detail)
				}
			}
			res, err := harness.Run(ctx, s, opts)
			outcomes[i] = outcome{s, res, err}
		})
	}
	wg.Wait()

	code, err := printVerdicts(stdout, outcomes, *asJSON, term)
	if err != nil {
		fmt.Fprintf(stderr, "sipnatlab: %v\n", err)
		return 2
	}
	if *pcapFile != "" {
		// Every run that produced a Result has a capture, a failed one too.
		for _, o := range outcomes {
			if o.res == nil {
				continue
			}
			if err := writePcap(outputName(*pcapFile, o.s.Name, len(outcomes)), o.res, o.err); err != nil {
				fmt.Fprintf(stderr, "sipnatlab: %v\n", err)
				return 2
			}
		}
	}
	if err := writeHTMLs(*htmlFile, outcomes); err != nil {
		fmt.Fprintf(stderr, "sipnatlab: %v\n", err)
		return 2
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "sipnatlab: interrupted")
		return max(code, 1)
	}
	return code
}

// outcome is what became of one scenario: its Result (nil when the run could not start)
// and the run's error.
type outcome struct {
	s   *scenario.Scenario
	res *harness.Result
	err error
}

// printVerdicts prints the outcomes as text reports, in order, or as one JSON verdict,
// and returns the exit code they make: 0 when every expectation held, 1 otherwise.
// The error is writing the JSON's.
func printVerdicts(stdout io.Writer, outcomes []outcome, asJSON, term bool) (int, error) {
	code := 0
	verdict := report.Verdict{Scenarios: []report.ScenarioVerdict{}}
	for _, o := range outcomes {
		if o.err != nil || o.res == nil || !o.res.Passed {
			code = 1
		}
		if asJSON {
			verdict.Scenarios = append(verdict.Scenarios, report.NewScenarioVerdict(o.s, o.res, o.err))
		} else {
			report.WriteText(stdout, o.s, o.res, o.err, report.TextOptions{Color: term})
		}
	}
	if asJSON {
		return code, report.WriteJSON(stdout, verdict)
	}
	return code, nil
}

// writeHTMLs writes the HTML ladder of each outcome to file (several: one page each,
// named by outputName); nothing when file is "".
func writeHTMLs(file string, outcomes []outcome) error {
	if file == "" {
		return nil
	}
	for _, o := range outcomes {
		if err := writeHTML(outputName(file, o.s.Name, len(outcomes)), o.s, o.res, o.err); err != nil {
			return err
		}
	}
	return nil
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

func writePcap(name string, res *harness.Result, runErr error) error {
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("--pcap: %w", err)
	}
	if err := report.WritePcap(f, res, runErr); err != nil {
		_ = f.Close()
		return fmt.Errorf("--pcap %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--pcap: %w", err)
	}
	return nil
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

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
