package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/judge"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

// Headline is a run's verdict in one line, with what became of the call kept apart from
// whether the scenario's expectations held: a scenario that expects a lost ACK passes
// when the call drops. Text, HTML, JSON and the matchers all render this one value.
type Headline struct {
	Name   string
	Passed bool // every expectation held and the run ended without error
	// Outcome is what became of the first call (the one the expectations judge):
	// "call dropped: ACK lost at proxy-b, blame proxy-b".
	Outcome string
	// Unmet lists the expectations that failed: "ack-at-callee want false, got true".
	Unmet []string
	// Expectations is how many expectations the scenario has.
	Expectations int
	Error        string // the run's error; "" when it ended normally
	LostAt       string // where the first call's ACK went no further; "" when it arrived
	Blame        string // the host to blame; "" when none
	Fix          string // the first call's fix in one sentence; "" when none is needed
}

// NewHeadline sums up a run: res is nil when the run could not start.
func NewHeadline(s *scenario.Scenario, res *harness.Result, runErr error) Headline {
	h := Headline{Name: s.Name, Expectations: len(s.Expect), Outcome: "no call was placed"}
	if runErr != nil {
		h.Error = runErr.Error()
	}
	if res == nil {
		h.Outcome = "the run did not start"
		return h
	}
	h.Passed = res.Passed && runErr == nil
	for _, e := range res.Expectations {
		if !e.OK {
			h.Unmet = append(h.Unmet, fmt.Sprintf("%s want %s, got %s", e.Key, e.Want, e.Got))
		}
	}
	if len(res.Calls) > 0 {
		c := res.Calls[0]
		h.Outcome = CallOutcome(c)
		if n := max(len(res.Calls), res.CallCount); n > 1 {
			h.Outcome = fmt.Sprintf("%s (the first of %d calls)", h.Outcome, n)
		}
		if !c.ACKAtCallee {
			h.LostAt, h.Blame = c.ACKLostAt, c.Blame
		}
		h.Fix = c.Fix
	}
	return h
}

// CallOutcome says in a few words what became of a call: completed (the ACK reached the
// callee), dropped (the callee hung up waiting for the ACK), unacknowledged, or not
// answered, with where the ACK was lost and who is to blame.
func CallOutcome(c judge.CallFacts) string {
	var where []string
	if c.ACKLostAt != "" {
		where = append(where, "ACK lost at "+c.ACKLostAt)
	}
	if c.Blame != "" {
		where = append(where, "blame "+c.Blame)
	}
	detail := strings.Join(where, ", ")
	switch {
	case !c.Answered && c.FinalResponse != "":
		s := fmt.Sprintf("call not answered: %s from %s", c.FinalResponse, orNone(c.FinalFrom))
		if c.Blame != "" {
			s += ", blame " + c.Blame
		}
		return s
	case !c.Answered && c.Blame != "":
		return fmt.Sprintf("call not answered: %s never sent a 2xx, blame %s", c.To, c.Blame)
	case !c.Answered:
		return fmt.Sprintf("call not answered: %s never sent a 2xx", c.To)
	case c.ACKAtCallee:
		return fmt.Sprintf("call completed: the ACK reached %s", c.To)
	case c.Class == judge.ClassOKLost:
		detail = fmt.Sprintf("the 200 OK never reached %s, so no ACK was sent", c.From)
	case c.ContactAtCaller == "" && (c.Class == judge.ClassNoRport || c.Class == judge.ClassSIPALG):
		detail = fmt.Sprintf("the 200 OK never reached %s, so no ACK was sent, blame %s", c.From, c.Blame)
	case detail == "":
		detail = "the ACK never reached " + c.To
	}
	if c.CalleeBYE {
		return "call dropped: " + detail
	}
	return "call answered but never acknowledged: " + detail
}

// Word is PASS or FAIL.
func (h Headline) Word() string {
	if h.Passed {
		return "PASS"
	}
	return "FAIL"
}

// Judgement is the part after the scenario's name: the outcome and how it compares
// with the expectations, "call dropped as expected: ACK lost at proxy-b, blame proxy-b".
func (h Headline) Judgement() string {
	head, detail, _ := strings.Cut(h.Outcome, ": ")
	var s string
	switch {
	case h.Error != "":
		s = fmt.Sprintf("the run failed (%s); %s", h.Error, h.Outcome)
		return s
	case h.Expectations == 0: // a run with none passes; a field capture's diagnosis has none
		s = head + " (no expectations to check)"
	case h.Passed:
		s = head + " as expected"
	default:
		s = head + ", not as expected"
	}
	if detail != "" {
		s += ": " + detail
	}
	if len(h.Unmet) > 0 {
		s += "; unmet: " + strings.Join(h.Unmet, "; ")
	}
	return s
}

// String is the whole line: "PASS no-nat-handling — call dropped as expected: ACK lost
// at proxy-b, blame proxy-b".
func (h Headline) String() string {
	return h.Word() + " " + h.Name + " — " + h.Judgement()
}

// WriteCallLadder writes the text ladder of one call alone, short enough for a matcher's
// failure message: its own datagrams and notes, none of the registrations or other
// calls, and of rows that repeat (a retransmitted 200 OK on the same hop, with the same
// Contact and fate) only the first two; a last line says how many it left out.
func WriteCallLadder(w io.Writer, res *harness.Result, callID string, o TextOptions) {
	l := NewLadder(res)
	own := &Ladder{Columns: l.Columns, byName: l.byName}
	type key struct {
		from, to       int
		label, contact string
		note, drop     string
	}
	seen := map[key]int{}
	left := 0
	for _, r := range l.Rows {
		if r.CallID != callID {
			continue
		}
		k := key{from: r.From, to: r.To, label: r.Label, contact: r.Contact, drop: r.DropAt}
		if r.IsNote() {
			k.note = r.NoteText()
		}
		if seen[k]++; seen[k] > 2 {
			left++
			continue
		}
		own.Rows = append(own.Rows, r)
	}
	width := o.Width
	if width <= 0 {
		width = 100
	}
	writeLadder(w, own, painter{on: o.Color}, width, "")
	if left > 0 {
		fmt.Fprintf(w, "(%d rows that repeat one shown twice above, retransmissions, left out)\n", left)
	}
}

// headlineHTML is the block at the top of the HTML page: the verdict word, what became
// of the call against the expectations, and the fix, before anything else.
const headlineHTML = `{{define "headline"}}<div class="headline" role="status" style="margin: 4px 0 10px; padding: 6px 10px; max-width: 1100px; border-left: 4px solid {{if .Passed}}#2e7d32; background: #e8f5e9{{else}}#c62828; background: #ffebee{{end}}">
<p style="margin: 2px 0"><b>{{.Word}}</b> — {{.Judgement}}</p>
{{if .Fix}}<p style="margin: 2px 0"><b>Fix:</b> {{.Fix}}</p>{{end}}
</div>{{end}}`
