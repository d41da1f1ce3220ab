package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/report"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

func explainCommand() *command {
	return &command{
		name:    "explain",
		args:    "FILE",
		summary: "tell one scenario's first call step by step, for learners",
		help: `Runs one scenario and tells its first call step by step in plain words: the
INVITE's path, the Contact of the 200 OK at every hop, the ACK's Request-URI
and Route at every hop and where it stopped, what the callee did, the
scenario's lesson and the fix. Runs in simulated time unless --clock real.

Exit codes: 0 every expectation held, 1 an expectation failed, 2 bad input.`,
		flags: func(fs *pflag.FlagSet) func(context.Context, *env, []string) int {
			clock := fs.String("clock", string(harness.Simulated), "the `CLOCK`: simulated, the RFC timers pass instantly; real, loopback UDP sockets in real time (32 s for a lost ACK)")
			return func(ctx context.Context, e *env, args []string) int {
				mode, err := harness.ParseClockMode(*clock)
				if err != nil {
					return e.usageError("--clock: %v", err)
				}
				if len(args) != 1 {
					return e.usageError("want exactly one scenario file")
				}
				return explain(ctx, e, mode, args[0])
			}
		},
	}
}

func explain(ctx context.Context, e *env, mode harness.ClockMode, file string) int {
	e.irq.setNotice("") // loading: an interrupt ends the process
	s, err := scenario.Load(file)
	if err != nil {
		return e.fail(2, err)
	}
	e.irq.setNotice("sipnatlab: interrupted: stopping the run, then telling what happened until then (interrupt again to stop at once)")
	opts := harness.Options{Clock: mode}
	prog, stopProgress := startProgress(e, mode, []*scenario.Scenario{s})
	if prog != nil {
		opts.Observe = func(ev harness.Event) { prog.observe(s.Name, ev) }
	}
	res, err := harness.Run(ctx, s, opts)
	stopProgress()
	defer closeCapture(res)
	if ctx.Err() != nil {
		// What the explanation says did not happen may only not have happened yet.
		fmt.Fprintln(e.stdout, "Interrupted: the run was stopped before it ended, so what follows is only what happened until then.")
		report.WriteExplain(e.stdout, s, res)
		fmt.Fprintln(e.stderr, "sipnatlab: interrupted")
		return 1
	}
	report.WriteExplain(e.stdout, s, res)
	if err != nil {
		return e.fail(1, err)
	}
	if !res.Passed {
		return 1
	}
	return 0
}
