package main

import (
	"io"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/report"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// outcome is what became of one scenario: its Result (nil when the run could not start)
// and the run's error.
type outcome struct {
	s   *scenario.Scenario
	res *harness.Result
	err error
}

// closeCaptures closes each outcome's capture, releasing its spill file, once the
// outputs that read it are written.
func closeCaptures(outcomes []outcome) {
	for _, o := range outcomes {
		closeCapture(o.res)
	}
}

// closeCapture closes res's capture (sim.Log.Close), if there is a res. Nothing is read
// from the capture afterwards, so an error closing it loses nothing.
func closeCapture(res *harness.Result) {
	if res != nil {
		_ = res.Capture.Close()
	}
}

// printVerdicts prints the outcomes as text reports, in order, or as one JSON verdict,
// and returns the exit code they make: 0 when every expectation held, 1 otherwise.
// The error is writing the JSON's.
func printVerdicts(e *env, outcomes []outcome, asJSON bool) (int, error) {
	code := 0
	verdict := report.Verdict{Scenarios: []report.ScenarioVerdict{}}
	for _, o := range outcomes {
		if o.err != nil || o.res == nil || !o.res.Passed {
			code = 1
		}
		if asJSON {
			verdict.Scenarios = append(verdict.Scenarios, report.NewScenarioVerdict(o.s, o.res, o.err))
		} else {
			report.WriteText(e.stdout, o.s, o.res, o.err, report.TextOptions{Color: e.term, Width: e.width})
		}
	}
	if asJSON {
		return code, report.WriteJSON(e.stdout, verdict)
	}
	return code, nil
}

// writeHTMLs writes the HTML ladder of each outcome to file (several: one page each,
// named by outputName); nothing when file is "".
func writeHTMLs(irq *interrupts, file string, outcomes []outcome) error {
	if file == "" {
		return nil
	}
	for _, o := range outcomes {
		if err := writeHTML(irq, outputName(file, o.s.Name, len(outcomes)), o.s, o.res, o.err); err != nil {
			return err
		}
	}
	return nil
}

// writeHTML writes the HTML ladder of one run to file.
func writeHTML(irq *interrupts, file string, s *scenario.Scenario, res *harness.Result, runErr error) error {
	return irq.writeFile("--html", file, func(w io.Writer) error { return report.WriteHTML(w, s, res, runErr) })
}

func writePcap(irq *interrupts, name string, res *harness.Result, runErr error) error {
	return irq.writeFile("--pcap", name, func(w io.Writer) error { return report.WritePcap(w, res, runErr) })
}
