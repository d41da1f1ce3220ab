package sim

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
)

// PortAllocation is how a NAT chooses the external port of a new binding (RFC 4787 §4.2).
// Its zero value is SequentialPorts.
type PortAllocation int

const (
	// SequentialPorts allocates external ports one after another from FirstPort, skipping
	// ports in use and wrapping around after 65535.
	SequentialPorts PortAllocation = iota
	// PreservePorts keeps the internal port as the external port when it is free (port
	// preservation, RFC 4787 §4.2.1, REQ-3 discussion) and otherwise falls back to
	// SequentialPorts.
	PreservePorts
	// RandomPorts draws external ports uniformly from FirstPort..65535 with a generator
	// seeded by PortSeed, so that a run repeats exactly (RFC 4787 §4.2.1 port randomisation,
	// RFC 6056).
	RandomPorts
)

var portAllocationWords = [...]string{
	SequentialPorts: "sequential",
	PreservePorts:   "preserve",
	RandomPorts:     "random",
}

// ParsePortAllocation parses "sequential", "preserve" or "random".
func ParsePortAllocation(s string) (PortAllocation, error) {
	for p, w := range portAllocationWords {
		if s == w {
			return PortAllocation(p), nil
		}
	}
	return 0, fmt.Errorf("parse port allocation %q: want sequential, preserve or random", s)
}

// String returns the word for p, as accepted by [ParsePortAllocation].
func (p PortAllocation) String() string {
	if p.valid() {
		return portAllocationWords[p]
	}
	return "PortAllocation(" + strconv.Itoa(int(p)) + ")"
}

func (p PortAllocation) valid() bool { return p >= 0 && int(p) < len(portAllocationWords) }

// portAllocator chooses external ports (RFC 4787 §4.2). next proposes a port without
// changing state, so that a dry run can predict it; take commits the port that the last
// call of next proposed for internal.
type portAllocator interface {
	next(internal netip.AddrPort, inUse func(uint16) bool) (uint16, bool)
	take(internal netip.AddrPort, port uint16)
}

func newPortAllocator(cfg NATConfig) portAllocator {
	seq := &sequentialPorts{first: cfg.FirstPort, cursor: cfg.FirstPort}
	switch cfg.PortAllocation {
	case PreservePorts:
		return &preservedPorts{seq: seq}
	case RandomPorts:
		return &randomPorts{seq: seq, rng: *rand.NewPCG(cfg.PortSeed, cfg.PortSeed^0x9e3779b97f4a7c15)}
	default:
		return seq
	}
}

// sequentialPorts allocates ports one after another from first, skipping ports in use and
// wrapping around at 65535.
type sequentialPorts struct {
	first, cursor uint16
}

func (s *sequentialPorts) next(_ netip.AddrPort, inUse func(uint16) bool) (uint16, bool) {
	return s.scan(s.cursor, inUse)
}

// scan returns the first free port from p on, wrapping from 65535 to first.
func (s *sequentialPorts) scan(p uint16, inUse func(uint16) bool) (uint16, bool) {
	if p < s.first {
		p = s.first
	}
	for range int(^uint16(0)-s.first) + 1 {
		if !inUse(p) {
			return p, true
		}
		p++
		if p == 0 || p < s.first {
			p = s.first
		}
	}
	return 0, false
}

func (s *sequentialPorts) take(_ netip.AddrPort, port uint16) {
	s.cursor = port + 1
	if s.cursor == 0 || s.cursor < s.first {
		s.cursor = s.first
	}
}

// preservedPorts keeps the internal port when it is free, else allocates sequentially.
type preservedPorts struct {
	seq *sequentialPorts
}

func (p *preservedPorts) next(internal netip.AddrPort, inUse func(uint16) bool) (uint16, bool) {
	if port := internal.Port(); port != 0 && !inUse(port) {
		return port, true
	}
	return p.seq.next(internal, inUse)
}

func (p *preservedPorts) take(internal netip.AddrPort, port uint16) {
	if port != internal.Port() {
		p.seq.take(internal, port)
	}
}

// randomPorts draws ports from first..65535 with a seeded PCG; when a few draws in a row
// hit ports in use it scans sequentially from the last draw.
type randomPorts struct {
	seq     *sequentialPorts
	rng     rand.PCG // the generator's committed state
	pending rand.PCG // its state after the draws of the last next call
}

// randomDraws bounds the draws of one allocation before the sequential scan.
const randomDraws = 16

func (r *randomPorts) next(_ netip.AddrPort, inUse func(uint16) bool) (uint16, bool) {
	g := r.rng // a copy: next changes no committed state
	span := uint64(^uint16(0)-r.seq.first) + 1
	var p uint16
	for range randomDraws {
		p = r.seq.first + uint16(g.Uint64()%span)
		if !inUse(p) {
			r.pending = g
			return p, true
		}
	}
	r.pending = g
	return r.seq.scan(p, inUse)
}

func (r *randomPorts) take(netip.AddrPort, uint16) { r.rng = r.pending }

// MarshalText returns the word for p, as ParsePortAllocation accepts it.
func (p PortAllocation) MarshalText() ([]byte, error) {
	if !p.valid() {
		return nil, fmt.Errorf("marshal port allocation %d: invalid", int(p))
	}
	return []byte(p.String()), nil
}

// UnmarshalText parses the words ParsePortAllocation accepts.
func (p *PortAllocation) UnmarshalText(text []byte) error {
	v, err := ParsePortAllocation(string(text))
	if err != nil {
		return err
	}
	*p = v
	return nil
}
