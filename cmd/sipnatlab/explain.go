package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/report"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

const explainUsage = `usage: sipnatlab explain [--clock simulated|real] FILE

Runs one scenario and tells its first call step by step in plain words: the
INVITE's path, the Contact of the 200 OK at every hop, the ACK's Request-URI
and Route at every hop and where it stopped, what the callee did, the
scenario's lesson and the fix.

  --clock    simulated (default for explain): the RFC timers pass instantly;
             real: loopback UDP sockets in real time (32 s for a lost ACK)

Exit codes: 0 every expectation held, 1 an expectation failed, 2 bad input.
`

func cmdExplain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	clockFlag := fs.String("clock", string(harness.Simulated), "simulated or real")
	fs.Usage = func() { fmt.Fprint(stderr, explainUsage) }
	if err := fs.Parse(args); err != nil {
		return 2
	}
	mode, err := harness.ParseClockMode(*clockFlag)
	if err != nil {
		fmt.Fprintf(stderr, "sipnatlab explain: --clock: %v\n%s", err, explainUsage)
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "sipnatlab explain: want exactly one scenario file\n%s", explainUsage)
		return 2
	}
	s, err := scenario.Load(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "sipnatlab: %v\n", err)
		return 2
	}
	res, err := harness.Run(ctx, s, harness.Options{Clock: mode})
	if ctx.Err() != nil {
		// What the explanation says did not happen may only not have happened yet.
		fmt.Fprintln(stdout, "Interrupted: the run was stopped before it ended, so what follows is only what happened until then.")
		report.WriteExplain(stdout, s, res)
		fmt.Fprintln(stderr, "sipnatlab: interrupted")
		return 1
	}
	report.WriteExplain(stdout, s, res)
	if err != nil {
		fmt.Fprintf(stderr, "sipnatlab: %v\n", err)
		return 1
	}
	if !res.Passed {
		return 1
	}
	return 0
}

// writeHTML writes the HTML ladder of one run to file.
func writeHTML(file string, s *scenario.Scenario, res *harness.Result, runErr error) error {
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("write html %q: %w", file, err)
	}
	if err := report.WriteHTML(f, s, res, runErr); err != nil {
		_ = f.Close()
		return fmt.Errorf("write html %q: %w", file, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write html %q: %w", file, err)
	}
	return nil
}
