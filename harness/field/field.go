// Package field diagnoses captures taken in the field (tcpdump, Wireshark/dumpcap, sngrep
// pcap and pcapng files, several vantage points of one incident): it reads them as a
// stream, infers the hosts, NATs and proxies they show, turns every datagram into the
// records a run's capture holds, and lets the judge decide every INVITE dialog in the
// same words as sipnatlab run, saying what the capture shows for certain and what is
// inferred. docs/lessons.md ("You have a capture: what now") tells how to use it.
package field

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/sipnatlab/sipnatlab/harness"
	"github.com/sipnatlab/sipnatlab/harness/judge"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/sim"
)

// Options tune a diagnosis. The zero value names hosts by their addresses.
type Options struct {
	// Names maps addresses to host and NAT names (sipnatlab diagnose --hosts).
	Names map[netip.Addr]string
	// Scenario names hosts and NATs and gives their roles (--scenario); its
	// topology is taken as given, not inferred.
	Scenario *scenario.Scenario
	// Window is how close in time two copies of one datagram are (the same payload
	// and IP identification, seen at two vantage points or before and after a NAT);
	// default 100ms. Retransmissions are further apart (T1 at least).
	Window time.Duration
	// Idle closes a dialog nothing was seen of for this long; default 2 minutes
	// (past 64*T1 and Timer J with the RFC 3261 timers).
	Idle time.Duration
	// Linger closes a dialog that ended (its BYE answered with a 2xx, its INVITE
	// with a final non-2xx) once nothing was seen of it for this long; default 8s
	// (two T2: a late retransmission still joins it).
	Linger time.Duration
	// Keep is how many dialogs keep every record, for the ladder; default 16.
	Keep int
	// OnCall, when set, is handed every call as soon as it is judged, with its
	// evidence, in the order the dialogs closed, on the goroutine running Diagnose.
	// The Diagnosis then keeps only the first Keep calls (Calls, Evidence) and the
	// Tally of all of them, so its memory follows the dialogs open at once, not the
	// calls in the capture. Unset, the Diagnosis keeps every call.
	OnCall func(judge.CallFacts, CallEvidence)
}

// Tally counts every call of a diagnosis, kept in Diagnosis.Calls or not.
type Tally struct {
	Calls, Answered, ACKAtCallee, CalleeBYE int
	// Lost counts the answered calls whose ACK never reached the callee.
	Lost int
	// Blamed counts the calls each host is blamed for.
	Blamed map[string]int
}

// add counts call f.
func (t *Tally) add(f judge.CallFacts) {
	t.Calls++
	if f.Answered {
		t.Answered++
		if !f.ACKAtCallee {
			t.Lost++
		}
	}
	if f.ACKAtCallee {
		t.ACKAtCallee++
	}
	if f.CalleeBYE {
		t.CalleeBYE++
	}
	if f.Blame != "" {
		if t.Blamed == nil {
			t.Blamed = map[string]int{}
		}
		t.Blamed[f.Blame]++
	}
}

// Diagnosis is what the capture files showed.
type Diagnosis struct {
	// Result is the capture as a run's Result: the inferred topology as its Scenario,
	// the records of the kept dialogs as its Capture, and the facts of every call
	// (Calls), judged by the judge as a run's are.
	Result *harness.Result
	// Calls are the INVITE dialogs, in the order they were judged: every one, or
	// only the first Options.Keep when Options.OnCall took them all.
	Calls    []judge.CallFacts
	Evidence []CallEvidence // Calls[i]'s evidence
	Tally    Tally          // every call, kept in Calls or not
	NATs     []InferredNAT
	Files    []string
	Packets  int // SIP datagrams and ICMP errors read
	Unparsed int // SIP-looking datagrams that did not parse
	// MaxOpenDialogs is the most dialogs (Call-IDs) held open at once: what the
	// memory of a diagnosis follows, with one line of facts per call.
	MaxOpenDialogs int
	Errors         []error // files that could not be read to the end: what came before is diagnosed
	Timers         TimerEstimate

	keptCalls int
	topo      *topology
	routes    []route       // the distinct caller, callee and first proxy of the calls
	nroutes   map[route]int // how many calls took each
	timers    timerCounts
}

// InferredNAT is a NAT the capture showed, and why.
type InferredNAT struct {
	Name   string       `json:"name"`
	Public netip.Addr   `json:"public"`
	LAN    netip.Prefix `json:"lan"`
	Why    string       `json:"why"`
}

// Lost reports whether some call lost the ACK for its 2xx.
func (d *Diagnosis) Lost() bool {
	return d.Tally.Lost > 0
}

// took counts call f, with evidence ev, in the tally, the routes and the timer
// estimate, and keeps it when there is no OnCall or Calls has room.
func (d *Diagnosis) took(o Options, f judge.CallFacts, ev CallEvidence) {
	d.Tally.add(f)
	d.timers.add(ev)
	if f.From != "" && f.To != "" {
		r := route{f.From, f.To, ev.via}
		if d.nroutes[r] == 0 {
			d.routes = append(d.routes, r)
		}
		d.nroutes[r]++
	}
	if o.OnCall != nil {
		o.OnCall(f, ev)
		if len(d.Calls) >= o.Keep {
			return
		}
	}
	d.Calls = append(d.Calls, f)
	d.Evidence = append(d.Evidence, ev)
}

// ErrRead is wrapped by Diagnosis errors about unreadable input.
var ErrRead = errors.New("unreadable capture")

// Diagnose reads the capture files (one per vantage point, merged by time) and
// diagnoses every INVITE dialog. Files that cannot be opened as captures make an
// error and no diagnosis; a file damaged or truncated part way is diagnosed up to the
// damage and listed in Diagnosis.Errors. Cancelling ctx stops the reading: what was
// read is diagnosed and ctx's error is listed in Diagnosis.Errors.
func Diagnose(ctx context.Context, names []string, o Options) (*Diagnosis, error) {
	if o.Window <= 0 {
		o.Window = 100 * time.Millisecond
	}
	if o.Idle <= 0 {
		o.Idle = 2 * time.Minute
	}
	if o.Linger <= 0 {
		o.Linger = 8 * time.Second
	}
	if o.Keep <= 0 {
		o.Keep = 16
	}
	files := make([]*File, 0, len(names))
	defer func() {
		for _, f := range files {
			_ = f.Close()
		}
	}()
	for i, n := range names {
		f, err := Open(n, i)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRead, err)
		}
		files = append(files, f)
	}
	d := &Diagnosis{Files: names, nroutes: map[route]int{}}
	a := newAnalyzer(o, d)
	m := newMerger(slices.Clone(files))
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			m.errs = append(m.errs, fmt.Errorf("reading stopped after %d packets: %w", a.npackets, context.Cause(ctx)))
			break
		}
		p, ok := m.next()
		if !ok {
			break
		}
		a.add(p)
	}
	a.finish()
	d.Packets = a.npackets
	d.Errors = m.errs
	s := a.topo.scenario(names[0])
	if o.Scenario != nil {
		s.Name, s.File, s.Summary, s.Timers = o.Scenario.Name, o.Scenario.File, o.Scenario.Summary, o.Scenario.Timers
	}
	slices.SortFunc(a.kept, func(x, y sim.Record) int { return x.Seq - y.Seq })
	res := &harness.Result{Scenario: s, Capture: sim.LogOf(a.kept), Start: a.start, End: a.end}
	a.kept = nil
	res.Judge()
	res.Calls, res.CallCount = d.Calls, d.Tally.Calls
	res.Expectations, res.Passed = nil, !d.Lost()
	d.Result = res
	for _, n := range a.topo.natList {
		d.NATs = append(d.NATs, InferredNAT{Name: n.name, Public: n.public, LAN: n.lan, Why: n.why})
	}
	d.Timers = d.timers.estimate()
	a.topo.applyTimers(d.Timers)
	d.topo = a.topo
	return d, nil
}
