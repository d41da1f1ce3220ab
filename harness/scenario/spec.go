package scenario

import (
	"fmt"
	"time"

	"github.com/sipnatlab/sipnatlab/sim/proxy"
	"go.yaml.in/yaml/v3"
)

// Spec is a scenario written in Go with exactly the vocabulary of a scenario
// file: every field carries the YAML key it stands for, values are written as
// in the file (addresses and durations as strings, "64*T1" included), and
// NATs, hosts and steps keep their order. Build turns it into a Scenario
// through the same loader as a file, so a Spec gets the same defaults and the
// same validation, and its errors name the same fields.
type Spec struct {
	Name    string      `yaml:"name"`
	Summary string      `yaml:"summary,omitempty"`
	Lesson  string      `yaml:"lesson,omitempty"`
	Timers  *TimerSpec  `yaml:"timers,omitempty"`
	NATs    []NATSpec   `yaml:"-"`
	Hosts   []HostSpec  `yaml:"-"`
	Steps   []StepSpec  `yaml:"-"`
	Expect  *ExpectSpec `yaml:"-"`
}

// TimerSpec is the "timers" block.
type TimerSpec struct {
	T1 string `yaml:"t1,omitempty"`
	T2 string `yaml:"t2,omitempty"`
}

// NATSpec is one entry of the "nats" block; Name is its key.
type NATSpec struct {
	Name           string `yaml:"-"`
	Public         string `yaml:"public"`
	LAN            string `yaml:"lan"`
	Mapping        string `yaml:"mapping,omitempty"`
	Filtering      string `yaml:"filtering,omitempty"`
	BindingTimeout string `yaml:"binding-timeout,omitempty"`
	RefreshInbound bool   `yaml:"refresh-inbound,omitempty"`
	Hairpinning    bool   `yaml:"hairpinning,omitempty"`
	PortAllocation string `yaml:"port-allocation,omitempty"`
	PortSeed       uint64 `yaml:"port-seed,omitempty"`
	// Forwards maps public ports to host names; SIPALG takes the words of alg.Flavour.
	Forwards map[int]string `yaml:"forwards,omitempty"`
	SIPALG   string         `yaml:"sip-alg,omitempty"`
}

// HostSpec is one entry of the "hosts" block; Name is its key. NATHandling and Engine
// take the typed words (proxy.HandlingExcessive, EngineKamailio); a relative Config is
// resolved against the directory "<go>", so give an absolute path.
type HostSpec struct {
	Name            string         `yaml:"-"`
	Role            Role           `yaml:"role"`
	Address         string         `yaml:"address"`
	NextHop         string         `yaml:"next-hop,omitempty"`
	NATHandling     proxy.Handling `yaml:"nat-handling,omitempty"`
	Late2xx         proxy.Late2xx  `yaml:"late-2xx,omitempty"`
	Reject          int            `yaml:"reject,omitempty"`
	Registrar       bool           `yaml:"registrar,omitempty"`
	RecordRoute     *bool          `yaml:"record-route,omitempty"`
	Engine          Engine         `yaml:"engine,omitempty"`
	Config          string         `yaml:"config,omitempty"`
	Image           string         `yaml:"image,omitempty"`
	RegisterWith    string         `yaml:"register-with,omitempty"`
	AckTimeout      string         `yaml:"ack-timeout,omitempty"`
	RegisterExpires string         `yaml:"register-expires,omitempty"`
	KeepAlive       *KeepAliveSpec `yaml:"keep-alive,omitempty"`
	Advertise       string         `yaml:"advertise,omitempty"`
	ForceRport      bool           `yaml:"force-rport,omitempty"`
	FixRegister     *bool          `yaml:"fix-register,omitempty"`
	Rport           *bool          `yaml:"rport,omitempty"`
}

// KeepAliveSpec is a UA's "keep-alive" block.
type KeepAliveSpec struct {
	Method   string `yaml:"method,omitempty"`
	Interval string `yaml:"interval,omitempty"`
}

// StepSpec is one step: set exactly one of Register, Call and Wait.
type StepSpec struct {
	Register string    `yaml:"register,omitempty"`
	Call     *CallSpec `yaml:"call,omitempty"`
	Wait     string    `yaml:"wait,omitempty"`
}

// CallSpec is a call step.
type CallSpec struct {
	From        string `yaml:"from"`
	To          string `yaml:"to"`
	Via         string `yaml:"via,omitempty"`
	Talk        string `yaml:"talk,omitempty"`
	CalleeTalk  string `yaml:"callee-talk,omitempty"`
	Count       int    `yaml:"count,omitempty"`
	Concurrency int    `yaml:"concurrency,omitempty"`
}

// ExpectSpec is the "expect" block; nil fields are not checked.
type ExpectSpec struct {
	ACKAtCallee *bool  `yaml:"ack-at-callee,omitempty"`
	ACKWithin   string `yaml:"ack-within,omitempty"`
	CalleeBYE   *bool  `yaml:"callee-bye,omitempty"`
	Blame       string `yaml:"blame,omitempty"`
}

// Bool returns a pointer to b, for the optional fields of a Spec.
func Bool(b bool) *bool { return &b }

// Build validates sp like a scenario file and returns the Scenario. Its File
// is "<go>/NAME.yaml". An invalid Spec gives a *BuildError that names the Go
// field ("Hosts[4].NextHop"), with the loader's message.
func Build(sp Spec) (*Scenario, error) {
	data, err := sp.YAML()
	if err != nil {
		return nil, err
	}
	s, err := Parse(fmt.Sprintf("<go>/%s.yaml", sp.Name), data)
	if err != nil {
		return nil, buildError(sp, err)
	}
	return s, nil
}

// YAML renders sp as a scenario file.
func (sp Spec) YAML() ([]byte, error) {
	var doc yaml.Node
	if err := doc.Encode(sp); err != nil {
		return nil, fmt.Errorf("spec %q: %w", sp.Name, err)
	}
	section := func(key string, names []string, values []any) error {
		if len(values) == 0 {
			return nil
		}
		m := &yaml.Node{Kind: yaml.MappingNode}
		for i, v := range values {
			var n yaml.Node
			if err := n.Encode(v); err != nil {
				return fmt.Errorf("spec %q: %s.%s: %w", sp.Name, key, names[i], err)
			}
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: names[i]}, &n)
		}
		doc.Content = append(doc.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, m)
		return nil
	}
	var names []string
	var values []any
	for _, n := range sp.NATs {
		names, values = append(names, n.Name), append(values, n)
	}
	if err := section("nats", names, values); err != nil {
		return nil, err
	}
	names, values = nil, nil
	for _, h := range sp.Hosts {
		names, values = append(names, h.Name), append(values, h)
	}
	if err := section("hosts", names, values); err != nil {
		return nil, err
	}
	var steps yaml.Node
	if err := steps.Encode(sp.Steps); err != nil {
		return nil, fmt.Errorf("spec %q: steps: %w", sp.Name, err)
	}
	doc.Content = append(doc.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "steps"}, &steps)
	if sp.Expect != nil {
		var e yaml.Node
		if err := e.Encode(sp.Expect); err != nil {
			return nil, fmt.Errorf("spec %q: expect: %w", sp.Name, err)
		}
		doc.Content = append(doc.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "expect"}, &e)
	}
	return yaml.Marshal(&doc)
}

// TimerMultiple is a duration in units of a scenario's T1, as "64*T1" in a
// file: 64*T1 is TimerMultiple(64). It becomes a duration with the T1 of the
// scenario it is applied to.
type TimerMultiple float64

// T1 is the unit of TimerMultiple, as in "64*T1": a count, not a duration. 64*T1
// becomes a duration only with a scenario, (64*T1).Of(s), in the scenario's own T1,
// the duration s.Timers.T1 (default endpoint.DefaultT1, 500 ms).
const T1 TimerMultiple = 1

// Of returns m in the scenario's time.
func (m TimerMultiple) Of(s *Scenario) time.Duration {
	return time.Duration(float64(m) * float64(s.Timers.T1))
}
