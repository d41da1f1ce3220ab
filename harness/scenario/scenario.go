// Package scenario is the scenario file format and its Go twin: the model, the loader
// with line-exact errors, and the Spec that builds a scenario in Go. It has no side
// effects; the format is documented in docs/scenario-format.md.
package scenario

import (
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/alg"
	"github.com/sipnatlab/sipnatlab/sim/endpoint"
	"github.com/sipnatlab/sipnatlab/sim/proxy"
	"github.com/sipnatlab/sipnatlab/sim/ua"
)

// Scenario is one parsed and validated scenario file (docs/scenario-format.md). Every name it
// holds (a NAT of a host, a proxy of a step, a blamed host) refers to an entry of NATs or
// Hosts; Load and Parse guarantee that. A Scenario is a plain value: callers may read it
// from several goroutines as long as nobody modifies it.
type Scenario struct {
	File    string // path as given to Load or Parse
	Name    string // kebab-case, unique among the scenarios of one LoadDir
	Summary string // one line; empty when the file has none
	Lesson  string // optional key "lesson": a few sentences for learners
	Timers  Timers
	NATs    []NAT         // in file order
	Hosts   []Host        // in file order
	Steps   []Step        // in file order, never empty
	Expect  []Expectation // in file order; empty when the file has no expect block
	Line    int           // line of the name key
}

// Host returns the host called name.
func (s *Scenario) Host(name string) (Host, bool) {
	for _, h := range s.Hosts {
		if h.Name == name {
			return h, true
		}
	}
	return Host{}, false
}

// NAT returns the NAT box called name.
func (s *Scenario) NAT(name string) (NAT, bool) {
	for _, n := range s.NATs {
		if n.Name == name {
			return n, true
		}
	}
	return NAT{}, false
}

// Timers are the RFC 3261 timers of one run, from the optional "timers" block. Both are
// positive and T2 >= T1; the loader fills in endpoint.DefaultT1 and endpoint.DefaultT2 for
// missing keys.
type Timers struct {
	T1 time.Duration // RTT estimate; 2xx retransmissions start at T1 (RFC 3261 §13.3.1.4)
	T2 time.Duration // cap of the retransmission interval (RFC 3261 §17.2.1)
}

// Endpoint returns t as the timers of the SIP endpoints of a run (T4 keeps its default).
func (t Timers) Endpoint() endpoint.Timers { return endpoint.Timers{T1: t.T1, T2: t.T2} }

// NAT is a NAT box in front of one private LAN (RFC 4787 vocabulary).
type NAT struct {
	Name           string
	Public         netip.Addr         // the NAT's public address: a public IPv4 address outside every LAN
	LAN            netip.Prefix       // the private network behind it; masked, never overlapping another LAN
	Mapping        sim.Behavior       // default sim.EndpointIndependent (RFC 4787 §4.1)
	Filtering      sim.Behavior       // default sim.AddressAndPortDependent (RFC 4787 §5)
	BindingTimeout time.Duration      // an idle mapping is removed after this long; default sim.DefaultBindingTimeout
	RefreshInbound bool               // inbound datagrams refresh a binding too (RFC 4787 REQ-6); default false
	Hairpinning    bool               // default false
	PortAllocation sim.PortAllocation // default sim.SequentialPorts (RFC 4787 §4.2)
	PortSeed       uint64             // seeds sim.RandomPorts; default 0
	// Forwards are the NAT's static port forwards (key "forwards"): a public port to a
	// host on its lan, which hosts outside then reach at Public and that port.
	Forwards []Forward
	// SIPALG is the router's SIP application-level gateway (key "sip-alg"); default
	// alg.None.
	SIPALG alg.Flavour
	// Outside is the NAT whose lan holds Public (a NAT behind a NAT, such as a home router
	// on a carrier-grade NAT's 100.64.0.0/10); "" when Public is public (computed).
	Outside string
	Line    int // line of the NAT's name in the file
}

// Forward is one static port forward of a NAT: its public port Port leads to the host
// Host on its lan, at To (the host's address and port).
type Forward struct {
	Port uint16
	Host string
	To   netip.AddrPort
	Line int
}

// Forward returns the forward of the NAT to the host called host, if any.
func (n NAT) Forward(host string) (Forward, bool) {
	for _, f := range n.Forwards {
		if f.Host == host {
			return f, true
		}
	}
	return Forward{}, false
}

// KeepAlive is a UA's keep-alive block: what it sends to its registrar, and how often,
// to keep its NAT binding open.
type KeepAlive struct {
	Method   ua.KeepAlive  // default ua.KeepAliveCRLF
	Interval time.Duration // default ua.DefaultKeepAliveInterval
}

// Role says what a host is.
type Role string

// Host roles.
const (
	RoleUA    Role = "ua"
	RoleProxy Role = "proxy"
)

// Engine is a real SIP proxy that can stand in a proxy host's place: the words of the
// "engine" key, of sipnatlab validate --engine, and of the dialect sipnatlab lint reports.
type Engine string

// Engines.
const (
	EngineKamailio Engine = "kamailio"
	EngineOpenSIPS Engine = "opensips"
)

// ParseEngine parses "kamailio" or "opensips".
func ParseEngine(s string) (Engine, error) {
	switch e := Engine(s); e {
	case EngineKamailio, EngineOpenSIPS:
		return e, nil
	}
	return "", fmt.Errorf("parse engine %q: want kamailio or opensips", s)
}

// Host is a UA or a proxy. Keys of the other role are rejected by the loader, so the
// fields of the other role keep their zero values.
type Host struct {
	Name    string
	Role    Role
	Address netip.AddrPort // virtual address; the port defaults to endpoint.DefaultPort
	NAT     string         // the NAT whose LAN contains Address; "" for a public host (computed)

	// Proxy keys.
	NextHop     string         // proxy that gets the requests this one is not the registrar for; "" for none
	NATHandling proxy.Handling // default proxy.HandlingNone
	Late2xx     proxy.Late2xx  // a 2xx retransmission after its transaction ended; default proxy.Late2xxReplyRoute
	Reject      int            // answers every initial INVITE with this final status (300-699) and forwards none; 0: forwards
	Registrar   bool           // keeps a location table filled by REGISTER; default false
	RecordRoute bool           // default true
	// Engine, Config and Image put a real proxy (sipnatlab validate's
	// container) in this host's place in real-time runs: the engine ("" for
	// none), its config file (a path relative to the scenario file, resolved
	// by the loader) and optionally the image. NATHandling says what the
	// in-process stand-in does in simulated time.
	Engine        Engine
	Config, Image string
	// Advertise is the address the proxy writes in Record-Route and Via instead of its
	// own (key "advertise"), as Kamailio's advertise does; zero: its own address.
	Advertise netip.AddrPort
	// ForceRport answers every request to its source port, as force_rport() does (key
	// "force-rport"); default false: a Via without rport is answered to its own port.
	ForceRport bool
	// FixRegister makes the registrar send requests to the address a REGISTER came from
	// (key "fix-register", default true); false stores the Contact as written.
	FixRegister bool

	// UA keys.
	RegisterWith    string        // registrar proxy the UA registers with before any call; "" for none
	AckTimeout      time.Duration // how long a UAS waits for the ACK of its 2xx; default ua.DefaultAckTimeout(T1)
	RegisterExpires time.Duration // Expires of its REGISTER, whole seconds; default ua.DefaultRegisterExpires
	KeepAlive       *KeepAlive    // nil: no keep-alives (the key "keep-alive" is absent)
	Rport           bool          // asks for rport in its Via (key "rport", RFC 3581); default true

	Line int // line of the host's name in the file
}

// StepKind names what a step does.
type StepKind string

// Step kinds.
const (
	StepRegister StepKind = "register"
	StepCall     StepKind = "call"
	StepWait     StepKind = "wait"
)

// Bounds of a call step's count and concurrency: load stays bounded.
const (
	MaxCalls       = 100000
	MaxConcurrency = 1000
)

// DefaultTalk is how long a call stays up after the ACK when the step gives no "talk".
const DefaultTalk = 2 * time.Second

// Step is one entry of the "steps" list. Only the fields of its Kind are set.
type Step struct {
	Kind StepKind
	Line int

	UA string // register: a UA with register-with

	From, To string        // call: two different UAs
	Via      string        // call: the caller's outbound proxy; defaults to the caller's register-with
	Talk     time.Duration // call: default DefaultTalk
	// Count is how many calls the step places (key "count", default 1) and
	// Concurrency how many of them may be up at once ("concurrency", default 1).
	Count, Concurrency int
	// CalleeTalk is how long after the ACK the callee hangs up itself (key "callee-talk");
	// zero: the callee waits for the caller's BYE.
	CalleeTalk time.Duration

	Wait time.Duration // wait: positive
}

// Expectation keys.
const (
	ExpectACKAtCallee = "ack-at-callee"
	ExpectACKWithin   = "ack-within"
	ExpectCalleeBYE   = "callee-bye"
	ExpectBlame       = "blame"
)

// Expectation is one key of the "expect" block, checked against the first call.
type Expectation struct {
	Key      string        // ExpectACKAtCallee, ExpectACKWithin, ExpectCalleeBYE or ExpectBlame
	Want     string        // the value as written, e.g. "false", "64*T1", "proxy-a", "none"
	Bool     *bool         // for ExpectACKAtCallee and ExpectCalleeBYE
	Duration time.Duration // for ExpectACKWithin, resolved with the scenario's T1
	Host     string        // for ExpectBlame: a proxy's name, or "" for "none"
	Line     int
}

// Scaled returns a copy of s with every duration multiplied by k: the
// timers, talk and wait steps, ACK timeouts, NAT binding timeouts,
// registration lifetimes and ack-within expectations. RFC timer arithmetic is
// linear in T1 and T2, so a scaled run keeps the same facts (retransmission
// counts, who lost the ACK, who is to blame) and runs k times as long: useful
// to run a 32 s failure on real sockets in 3 s. A duration that would not fit a
// time.Duration becomes the longest one.
func (s *Scenario) Scaled(k float64) *Scenario {
	d := func(v time.Duration) time.Duration {
		if x := float64(v) * k; x >= math.MaxInt64 {
			return math.MaxInt64
		}
		return time.Duration(float64(v) * k)
	}
	c := *s
	c.Timers = Timers{T1: d(s.Timers.T1), T2: d(s.Timers.T2)}
	c.NATs = append([]NAT(nil), s.NATs...)
	for i := range c.NATs {
		c.NATs[i].BindingTimeout = d(c.NATs[i].BindingTimeout)
	}
	c.Hosts = append([]Host(nil), s.Hosts...)
	for i := range c.Hosts {
		c.Hosts[i].AckTimeout = d(c.Hosts[i].AckTimeout)
		c.Hosts[i].RegisterExpires = d(c.Hosts[i].RegisterExpires)
		if k := c.Hosts[i].KeepAlive; k != nil {
			c.Hosts[i].KeepAlive = &KeepAlive{Method: k.Method, Interval: d(k.Interval)}
		}
	}
	c.Steps = append([]Step(nil), s.Steps...)
	for i := range c.Steps {
		c.Steps[i].Talk = d(c.Steps[i].Talk)
		c.Steps[i].CalleeTalk = d(c.Steps[i].CalleeTalk)
		c.Steps[i].Wait = d(c.Steps[i].Wait)
	}
	c.Expect = append([]Expectation(nil), s.Expect...)
	for i := range c.Expect {
		c.Expect[i].Duration = d(c.Expect[i].Duration)
	}
	return &c
}
