package sim

import (
	"fmt"
	"net/netip"
	"strconv"
)

// Behavior is a NAT mapping or filtering behaviour in the vocabulary of RFC 4787 §4.1
// (mapping) and §5 (filtering). Its zero value is EndpointIndependent.
type Behavior int

const (
	// EndpointIndependent mapping reuses one external endpoint for every remote endpoint
	// (RFC 4787 §4.1, REQ-1); endpoint-independent filtering accepts inbound datagrams from
	// anyone once a binding exists (§5).
	EndpointIndependent Behavior = iota
	// AddressDependent mapping keys the binding on the remote IP address; address-dependent
	// filtering accepts only remote addresses the internal endpoint has sent to (§4.1, §5).
	AddressDependent
	// AddressAndPortDependent mapping keys the binding on the remote IP address and port;
	// address-and-port-dependent filtering accepts only remote endpoints the internal
	// endpoint has sent to (§4.1, §5).
	AddressAndPortDependent
)

var behaviorWords = [...]string{
	EndpointIndependent:     "endpoint-independent",
	AddressDependent:        "address-dependent",
	AddressAndPortDependent: "address-and-port-dependent",
}

// ParseBehavior parses "endpoint-independent", "address-dependent" or
// "address-and-port-dependent".
func ParseBehavior(s string) (Behavior, error) {
	for b, w := range behaviorWords {
		if s == w {
			return Behavior(b), nil
		}
	}
	return 0, fmt.Errorf("parse NAT behavior %q: want endpoint-independent, address-dependent or address-and-port-dependent", s)
}

// String returns the RFC 4787 word for b, as accepted by [ParseBehavior].
func (b Behavior) String() string {
	if b.valid() {
		return behaviorWords[b]
	}
	return "Behavior(" + strconv.Itoa(int(b)) + ")"
}

func (b Behavior) valid() bool { return b >= 0 && int(b) < len(behaviorWords) }

// key reduces a remote endpoint to the part of it this behaviour depends on: nothing for
// endpoint-independent, the address for address-dependent, all of it otherwise.
func (b Behavior) key(remote netip.AddrPort) netip.AddrPort {
	switch b {
	case EndpointIndependent:
		return netip.AddrPort{}
	case AddressDependent:
		return netip.AddrPortFrom(remote.Addr(), 0)
	default:
		return remote
	}
}

// MarshalText returns the RFC 4787 word for b.
func (b Behavior) MarshalText() ([]byte, error) {
	if !b.valid() {
		return nil, fmt.Errorf("marshal NAT behavior %d: invalid", int(b))
	}
	return []byte(b.String()), nil
}

// UnmarshalText parses the words ParseBehavior accepts.
func (b *Behavior) UnmarshalText(text []byte) error {
	v, err := ParseBehavior(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}
