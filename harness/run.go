package harness

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"time"
	"unique"

	"github.com/sipnatlab/sipnatlab/harness/judge"
	"github.com/sipnatlab/sipnatlab/harness/scenario"
	"github.com/sipnatlab/sipnatlab/harness/trace"
	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/endpoint"
	"github.com/sipnatlab/sipnatlab/sim/proxy"
	"github.com/sipnatlab/sipnatlab/sim/ua"
)

// ClockMode says how time passes in a run.
type ClockMode string

// Clock modes.
const (
	// RealTime runs on loopback UDP sockets with the system clock: what tshark
	// on lo sees, and what real peers can join.
	RealTime ClockMode = "real"
	// Simulated runs on the memory carrier with a sim.VirtualClock: one
	// goroutine, deterministic, and 64*T1 passes in microseconds.
	Simulated ClockMode = "simulated"
)

// ParseClockMode accepts "real" and "simulated".
func ParseClockMode(s string) (ClockMode, error) {
	switch ClockMode(s) {
	case RealTime, Simulated:
		return ClockMode(s), nil
	}
	return "", fmt.Errorf("clock %q: want real or simulated", s)
}

// Options tune a run. The zero value runs on loopback sockets in real time.
type Options struct {
	Clock ClockMode // "" means RealTime
	// Observe, when set, is called with every actor event as it happens
	// (from the actors' goroutines in real time), e.g. to show progress.
	Observe func(Event)
	// Containers puts real proxies in place of in-process proxy hosts (by
	// host name). The run then happens in real time on an internal Docker
	// network, with every public address of the scenario mapped to a real
	// one there (Result.Real says which). It needs Proxies.
	Containers map[string]Container
	// Proxies starts the real proxies of Containers, and of hosts whose
	// scenario names an engine: realproxy.Docker{} (package
	// harness/realproxy, the only one with Docker code). Nil: a run that
	// needs a real proxy fails, and one whose scenario names an engine
	// keeps its in-process stand-in.
	Proxies Proxies
	// InProcess keeps every proxy in process even where the scenario names
	// an engine (real proxies run only in real time, so Simulated implies it).
	InProcess bool
	// Seed seeds every identifier the actors make (Call-IDs, tags, branches), so
	// a simulated run with the same scenario and seed repeats byte for byte.
	// Zero means 1 in simulated time and a random seed in real time; the seed
	// used is Result.Seed.
	Seed uint64
}

// Event is one thing an actor did, in the run's clock: a UA event (2xx sent,
// retransmitted, ACK received, BYE sent ...) or a proxy's routing decision.
type Event struct {
	Time   time.Time
	Host   string
	Kind   string
	CallID string
	Detail string
}

// CallRecord names one call placed by a call step.
type CallRecord struct {
	From, To string
	Via      string
	CallID   string
	Err      string // what went wrong placing it, "" when the INVITE got a 2xx
}

// Result is what a run produced: the capture (the single record of every
// datagram at every hop), the actors' events, and the judged facts.
type Result struct {
	Scenario *scenario.Scenario
	Clock    ClockMode // RealTime or Simulated
	Seed     uint64    // the seed of the run's identifiers (Options.Seed)
	Start    time.Time
	End      time.Time
	// Capture is the run's records, kept compactly and decoded when read
	// (Capture.Records() gives them as one slice, for small captures and tests).
	// The Trace reads it, so it stays open while the Result is read.
	Capture *sim.Log
	Events  []Event
	Placed  []CallRecord
	// Trace is the capture grouped by datagram and call, what the judge and the
	// reports read.
	Trace *trace.Trace
	Calls []judge.CallFacts
	// CallCount is how many calls were judged when Calls holds only the first
	// of them (a field diagnosis that streamed its calls out); 0: len(Calls).
	CallCount    int
	Expectations []judge.ExpectationResult
	Passed       bool
	Columns      []Column // hosts and NATs in ladder order
	// Real maps each host and NAT that took a real address in a run with a
	// real proxy to that address; nil in an all in-process run.
	Real map[string]string
	// ProxyLogs holds what each real proxy wrote (stdout and stderr) by host
	// name, when its Started offers them (LogsReporter); nil otherwise.
	ProxyLogs map[string]string
}

// LogsReporter is what a Started may also implement: each real proxy's own
// output by host name, read after Close.
type LogsReporter interface {
	Logs() map[string]string
}

// Column is one host or NAT box of the topology, as the ladder shows it.
type Column struct {
	Name    string
	Addr    netip.Addr
	IsNAT   bool
	Private bool // behind a NAT
}

// ErrRun wraps failures to build or drive the simulated world.
var ErrRun = errors.New("run scenario")

type world struct {
	s       *scenario.Scenario
	net     *sim.Network
	clock   sim.Clock
	uas     map[string]*ua.UA
	proxies map[string]*proxy.Proxy
	closers []func() error
	seed    uint64

	mu     sync.Mutex
	events []Event
	wake   chan struct{} // signalled after every actor event (real time)

	observe func(Event) // Options.Observe
	real    Started     // the real proxies of a run with Options.Containers
}

func (w *world) record(e Event) {
	// A load repeats the same few texts for every call and each actor parses its own copy
	// of a Call-ID: the Result keeps one of each.
	e.Detail, e.CallID = unique.Make(e.Detail).Value(), unique.Make(e.CallID).Value()
	w.mu.Lock()
	w.events = append(w.events, e)
	w.mu.Unlock()
	if w.observe != nil {
		w.observe(e)
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run builds the scenario's world on the fabric, runs its steps and judges
// the result. A failed expectation is not an error: it shows in Result.Passed.
// The world is torn down before Run returns, also on error; the Result
// gathered so far is returned with the error.
func Run(ctx context.Context, s *scenario.Scenario, opts Options) (*Result, error) {
	var clock sim.Clock = sim.SystemClock{}
	carrier := sim.Loopback
	switch opts.Clock {
	case "", RealTime:
	case Simulated:
		// Simulated time starts at a fixed instant so runs repeat exactly.
		clock = sim.NewVirtualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		carrier = sim.Memory
	default:
		return nil, fmt.Errorf("%w %q: unknown clock mode %q", ErrRun, s.Name, opts.Clock)
	}
	w := &world{s: s, clock: clock, net: sim.NewNetwork(sim.Config{Clock: clock, Carrier: carrier}), uas: map[string]*ua.UA{}, proxies: map[string]*proxy.Proxy{}, wake: make(chan struct{}, 1), observe: opts.Observe}
	w.seed = opts.Seed
	if w.seed == 0 && opts.Clock == Simulated {
		w.seed = 1
	}
	for w.seed == 0 { // real time: a random seed, never 0, which would not repeat the run
		w.seed = rand.Uint64()
	}
	var err error
	if opts.Containers == nil && !opts.InProcess && opts.Clock != Simulated && opts.Proxies != nil {
		for _, h := range s.Hosts {
			if h.Engine != "" {
				if opts.Containers == nil {
					opts.Containers = map[string]Container{}
				}
				opts.Containers[h.Name] = Container{Engine: h.Engine, Config: h.Config, Image: h.Image}
			}
		}
	}
	if len(opts.Containers) > 0 {
		if opts.Clock == Simulated {
			return nil, fmt.Errorf("%w %q: a real proxy runs in real time only", ErrRun, s.Name)
		}
		if opts.Proxies == nil {
			return nil, fmt.Errorf("%w %q: %w", ErrRun, s.Name, ErrNoProxies)
		}
		w.real, err = opts.Proxies.Start(ctx, s, opts.Containers)
		if err == nil {
			w.s = w.real.Scenario()
		}
	}
	res := &Result{Scenario: w.s, Clock: opts.Clock, Seed: w.seed, Start: clock.Now(), Columns: columns(w.s)}
	if res.Clock == "" {
		res.Clock = RealTime
	}
	if w.real != nil && err == nil {
		res.Real = w.real.Real()
	}
	if err == nil {
		err = w.build()
	}
	if err == nil {
		err = w.steps(ctx, res)
	}
	if vc, ok := clock.(*sim.VirtualClock); ok {
		vc.Settle() // deliver what is in flight at the last instant
	}
	res.End = clock.Now()
	res.Capture = w.net.Capture().Take()
	w.mu.Lock()
	res.Events, w.events = w.events, nil // taken, not copied: an actor's late event starts a slice of its own
	w.mu.Unlock()
	slices.SortStableFunc(res.Events, func(a, b Event) int { return a.Time.Compare(b.Time) })
	w.close()
	if lr, ok := w.real.(LogsReporter); ok && w.real != nil {
		res.ProxyLogs = lr.Logs()
	}
	res.Judge()
	if err != nil {
		res.Passed = false
		return res, fmt.Errorf("%w %q: %w", ErrRun, s.Name, err)
	}
	return res, nil
}

// Judge builds Trace from Capture and judges it into Calls, Expectations and Passed,
// with Scenario as the topology; it fills Columns when they are missing. Run calls it;
// call it on a Result read back from a capture.
func (res *Result) Judge() {
	if res.Columns == nil {
		res.Columns = columns(res.Scenario)
	}
	res.Trace = trace.New(res.Capture)
	res.Calls = judge.Calls(res.Scenario, res.Trace)
	res.Expectations, res.Passed = judge.Check(res.Scenario, res.Calls)
}

// columns lays the hosts and NATs out in path order: the hosts before the first host
// on a public address (the callers' side) each with its NATs to its right, innermost
// first (alice | nat-a | proxy); the others with their NATs to their left, outermost
// first (proxy | cgn | home-nat | bob). A NAT shared by several hosts of one side stands
// once, beyond the hosts behind it. With no public host every host is on the right.
func columns(s *scenario.Scenario) []Column {
	left := len(s.Hosts)
	for i, h := range s.Hosts {
		if h.NAT == "" {
			left = i
			break
		}
	}
	if left == len(s.Hosts) {
		left = 0
	}
	seen := map[string]bool{}
	// The callers' side, laid out from the middle outwards and then mirrored.
	leftCols := columnsOf(s, slices.Backward(s.Hosts[:left]), seen)
	slices.Reverse(leftCols)
	return append(leftCols, columnsOf(s, slices.All(s.Hosts[left:]), seen)...)
}

// columnsOf lays out hosts, each after its NATs not yet in seen, outermost first.
func columnsOf(s *scenario.Scenario, hosts iter.Seq2[int, scenario.Host], seen map[string]bool) []Column {
	var cols []Column
	for _, h := range hosts {
		// A host's NAT, and the NATs that NAT sits behind, outermost first.
		var chain []scenario.NAT
		for name := h.NAT; name != "" && !seen[name]; {
			n, ok := s.NAT(name)
			if !ok {
				break
			}
			seen[name] = true
			chain = append([]scenario.NAT{n}, chain...)
			name = n.Outside
		}
		for _, n := range chain {
			cols = append(cols, Column{Name: n.Name, Addr: n.Public, IsNAT: true, Private: n.Outside != ""})
		}
		cols = append(cols, Column{Name: h.Name, Addr: h.Address.Addr(), Private: h.NAT != ""})
	}
	return cols
}

func (w *world) build() error {
	s := w.s
	if err := s.AddTo(w.net); err != nil {
		return err
	}
	timers := s.Timers.Endpoint()
	for _, h := range s.Hosts {
		conn, err := w.net.Host(h.Name).ListenPacket(h.Address.Port())
		if err != nil {
			return err
		}
		if w.real != nil {
			attached, err := w.real.Attach(h.Name, conn)
			if err != nil {
				_ = conn.Close()
				return err
			}
			if attached {
				continue
			}
		}
		ep := endpoint.New(conn, endpoint.Config{Clock: w.clock, Timers: timers, IDs: endpoint.NewIDs(w.seed, h.Name)})
		switch h.Role {
		case scenario.RoleProxy:
			cfg := proxy.Config{
				Name:          h.Name,
				Registrar:     h.Registrar,
				NoRecordRoute: !h.RecordRoute,
				Handling:      h.NATHandling,
				Advertise:     h.Advertise,
				Aliases:       s.Forwarded(h.Name),
				ForceRport:    h.ForceRport,
				NoFixRegister: h.Registrar && !h.FixRegister,
				Late2xx:       h.Late2xx,
				Reject:        h.Reject,
				Observe: func(e proxy.Event) {
					w.record(Event{Time: e.Time, Host: e.Proxy, Kind: e.Kind, CallID: e.CallID, Detail: e.Detail})
				},
			}
			if h.NextHop != "" {
				cfg.NextHop = s.Reach(h.Name, h.NextHop)
			}
			p := proxy.New(ep, cfg)
			w.proxies[h.Name] = p
			w.closers = append(w.closers, p.Close)
		default:
			cfg := ua.Config{
				Name:            h.Name,
				RegisterExpires: h.RegisterExpires,
				AckTimeout:      h.AckTimeout,
				NoRport:         !h.Rport,
				Observe: func(e ua.Event) {
					w.record(Event{Time: e.Time, Host: e.UA, Kind: string(e.Kind), CallID: e.CallID, Detail: e.Detail})
				},
			}
			if h.RegisterWith != "" {
				cfg.Registrar = s.Reach(h.Name, h.RegisterWith)
				cfg.Domain = cfg.Registrar
			}
			if k := h.KeepAlive; k != nil {
				cfg.KeepAlive, cfg.KeepAliveInterval = k.Method, k.Interval
			}
			u := ua.New(ep, cfg)
			w.uas[h.Name] = u
			w.closers = append(w.closers, u.Close)
		}
	}
	return nil
}

func (w *world) close() {
	for i := len(w.closers) - 1; i >= 0; i-- {
		_ = w.closers[i]()
	}
	if w.real != nil {
		w.real.Close()
	}
	_ = w.net.Close()
}

// Call returns the facts of the i-th call (0-based) of the run, or nil.
func (r *Result) Call(i int) *judge.CallFacts {
	if r == nil || i < 0 || i >= len(r.Calls) {
		return nil
	}
	return &r.Calls[i]
}
