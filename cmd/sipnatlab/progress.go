package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/sim/ua"
)

// progress keeps, for a real-time run on a terminal, one status line per scenario: the
// call under way, what it waits for and, once the callee has answered, the countdown to
// its ACK timeout. It redraws the lines in place; it is only used when stderr is a
// terminal, so piped output carries nothing of it. Safe for concurrent use.
type progress struct {
	w io.Writer // the raw terminal: the lines are our own words and kebab-case names

	mu    sync.Mutex
	order []string                  // scenario names, in command-line order
	state map[string]*scenarioState // by scenario name
	drawn int                       // lines drawn last time
}

// scenarioState is what progress knows of one scenario.
type scenarioState struct {
	s        *scenario.Scenario
	call     string    // "alice -> bob"
	callee   string    // the host that answered the current call
	waiting  string    // what the call waits for, in words
	deadline time.Time // when the callee gives up waiting for the ACK; zero when it is not waiting
	retrans  int       // 200 OK retransmissions of the current call
	done     bool
}

// startProgress starts the progress lines of a run in mode when stderr is a terminal
// and the run takes real time, and returns them with the function that stops and clears
// them; nil and a no-op otherwise.
func startProgress(e *env, mode harness.ClockMode, scenarios []*scenario.Scenario) (*progress, func()) {
	if !e.errorTerm || mode != harness.RealTime {
		return nil, func() {}
	}
	p := newProgress(e.rawStderr, scenarios)
	stop, done := make(chan struct{}), make(chan struct{})
	go p.run(250*time.Millisecond, stop, done)
	stopped := sync.OnceFunc(func() { close(stop); <-done })
	e.irq.setLive(stopped) // an interrupt's notice goes below the cleared lines
	return p, stopped
}

func newProgress(w io.Writer, scenarios []*scenario.Scenario) *progress {
	p := &progress{w: w, state: map[string]*scenarioState{}}
	for _, s := range scenarios {
		p.order = append(p.order, s.Name)
		p.state[s.Name] = &scenarioState{s: s, waiting: "starting"}
	}
	return p
}

// observe takes one event of scenario name's run.
func (p *progress) observe(name string, e harness.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.state[name]
	if st == nil {
		return
	}
	switch ua.EventKind(e.Kind) {
	case ua.Registered:
		st.waiting = e.Host + " registered"
	case ua.InviteSent:
		st.call = e.Host + " -> " + calleeOf(e.Detail)
		st.waiting = "waiting for the callee to answer"
		st.deadline, st.retrans, st.callee = time.Time{}, 0, ""
	case ua.OKSent:
		st.callee = e.Host
		if h, ok := st.s.Host(e.Host); ok && st.deadline.IsZero() {
			st.deadline = e.Time.Add(h.AckTimeout)
		}
		st.waiting = e.Host + " answered; waiting for the ACK at " + e.Host
	case ua.OKRetransmitted:
		st.retrans++
		st.waiting = fmt.Sprintf("no ACK at %s yet, 200 OK retransmissions: %d", e.Host, st.retrans)
	case ua.ACKReceived:
		st.deadline = time.Time{}
		st.waiting = "the ACK reached " + e.Host + "; the call is up until the caller hangs up"
	case ua.ACKTimeout:
		st.deadline = time.Time{}
		st.waiting = e.Host + " gave up waiting for the ACK and hangs up"
	case ua.CallEnded, ua.CallFailed:
		if e.Host == st.callee || st.callee == "" {
			st.deadline = time.Time{}
			st.waiting = "call ended"
		}
	}
}

// calleeOf finds the callee in an invite-sent event's detail ("INVITE sip:bob@…").
func calleeOf(detail string) string {
	if _, rest, ok := strings.Cut(detail, "sip:"); ok {
		if user, _, ok := strings.Cut(rest, "@"); ok {
			return user
		}
	}
	return "?"
}

// finish marks scenario name's run as ended.
func (p *progress) finish(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st := p.state[name]; st != nil {
		st.done, st.deadline = true, time.Time{}
		st.waiting = "done"
	}
}

// lines renders the status lines at now.
func (p *progress) lines(now time.Time) []string {
	var out []string
	for _, name := range p.order {
		st := p.state[name]
		line := name + ": "
		if st.call != "" && !st.done {
			line += st.call + ": "
		}
		line += st.waiting
		if !st.deadline.IsZero() {
			left := max(st.deadline.Sub(now), 0).Round(time.Second)
			line += fmt.Sprintf("; it hangs up in %s without one", left)
		}
		out = append(out, line)
	}
	return out
}

// draw redraws the status lines in place: up over the lines drawn last time, then each
// line cleared and written anew.
func (p *progress) draw(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	lines := p.lines(now)
	for _, l := range lines {
		fmt.Fprintf(&b, "\r\x1b[K%s\n", l)
	}
	p.drawn = len(lines)
	_, _ = io.WriteString(p.w, b.String())
}

// clear removes the status lines, leaving the cursor where they began.
func (p *progress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA\r\x1b[J", p.drawn)
		p.drawn = 0
	}
}

// run redraws every interval until stop is closed, then clears the lines; done is
// closed when it has.
func (p *progress) run(interval time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(interval)
	defer t.Stop()
	p.draw(time.Now())
	for {
		select {
		case <-stop:
			p.clear()
			return
		case now := <-t.C:
			p.draw(now)
		}
	}
}
