package field

import (
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/sipnatlab/sipnatlab/harness/judge"
)

// WriteEvidence writes, after the run-style report, what the capture files were, the
// NATs inferred and why, the timers estimated, and for every kept call what is
// certain and what is inferred (with a confidence word): of at most max calls (0:
// all), those that lost their ACK first.
func (d *Diagnosis) WriteEvidence(w io.Writer, max int) {
	d.WriteSummary(w)
	// The calls that lost their ACK first, then the others, in order.
	order := make([]int, 0, len(d.Calls))
	for pass := 0; pass < 2; pass++ {
		for i, c := range d.Calls {
			if lost := c.Answered && !c.ACKAtCallee; lost == (pass == 0) {
				order = append(order, i)
			}
		}
	}
	if max > 0 && len(order) > max {
		order = order[:max]
		slices.Sort(order)
	}
	for _, i := range order {
		WriteCallEvidence(w, d.Calls[i], d.Evidence[i])
	}
	if n := d.Tally.Calls - len(order); n > 0 {
		fmt.Fprintf(w, "  (evidence of %d more calls left out; --json has it all)\n", n)
	}
	d.WriteErrors(w)
}

// WriteSummary writes what the capture files were, the NATs inferred and why, and
// the timers estimated.
func (d *Diagnosis) WriteSummary(w io.Writer) {
	fmt.Fprintf(w, "Capture: %d file(s), %d SIP datagrams and ICMP errors read, at most %d dialogs open at once", len(d.Files), d.Packets, d.MaxOpenDialogs)
	if d.Unparsed > 0 {
		fmt.Fprintf(w, ", %d SIP-looking datagrams that did not parse", d.Unparsed)
	}
	fmt.Fprintln(w)
	if t := d.Tally; t.Calls > len(d.Calls) {
		fmt.Fprintf(w, "  all %d calls: %d answered, %d with the ACK at the callee, %d lost it, %d ended by the callee's BYE", t.Calls, t.Answered, t.ACKAtCallee, t.Lost, t.CalleeBYE)
		for _, h := range slices.Sorted(maps.Keys(t.Blamed)) {
			fmt.Fprintf(w, "; %d blame %s", t.Blamed[h], h)
		}
		fmt.Fprintln(w)
	}
	for _, n := range d.NATs {
		fmt.Fprintf(w, "  NAT %s: public %s, lan %s (inferred: %s)\n", n.Name, n.Public, n.LAN, n.Why)
	}
	fmt.Fprintf(w, "  timers: %s\n", d.Timers)
}

// WriteErrors writes the files that could not be read to the end.
func (d *Diagnosis) WriteErrors(w io.Writer) {
	for _, err := range d.Errors {
		fmt.Fprintf(w, "error: %v (everything before it is diagnosed above)\n", err)
	}
}

// WriteCallEvidence writes what the capture shows of call c for certain and what is
// inferred.
func WriteCallEvidence(w io.Writer, c judge.CallFacts, e CallEvidence) {
	fmt.Fprintf(w, "Evidence for call %s (%s -> %s)\n", e.CallID, c.From, orHost(c.To))
	for _, s := range e.Statements {
		fmt.Fprintf(w, "  %-14s %s\n", s.Confidence+":", s.Text)
	}
}
