package sim_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/sipnatlab/sipnatlab/sim"
)

// FuzzNAT drives a NAT table with a random sequence of outbound and inbound
// datagrams and clock steps, for every mapping, filtering and port
// allocation, and checks RFC 4787's invariants after each step:
//   - no binding without an outbound datagram: an inbound datagram is let in
//     only through a binding an outbound datagram created;
//   - filtering as configured: a datagram let in comes from a remote the
//     internal endpoint has sent to (EIF: anyone; ADF: that address; APDF:
//     that address and port) since the binding was created;
//   - no unbounded growth: never more bindings than outbound datagrams, and
//     never more than the distinct mapping keys seen.
//
// Each input byte triple is one step: op, internal endpoint, remote endpoint.
func FuzzNAT(f *testing.F) {
	f.Add([]byte{0, 1, 2, 1, 1, 2, 1, 1, 3, 2, 0, 0, 0, 4, 5})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 1, 0, 0})
	f.Add([]byte{0, 0, 0, 2, 0, 0, 1, 0, 0, 0, 3, 7, 1, 3, 7})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) < 1 {
			return
		}
		cfg := sim.NATConfig{
			Name:           "nat",
			Public:         netip.MustParseAddr("203.0.113.50"),
			LAN:            netip.MustParsePrefix("192.168.1.0/24"),
			Mapping:        sim.Behavior(ops[0] % 3),
			Filtering:      sim.Behavior(ops[0] / 3 % 3),
			BindingTimeout: 30 * time.Second,
			PortAllocation: sim.PortAllocation(ops[0] / 9 % 3),
			PortSeed:       uint64(ops[0]),
		}
		tab := sim.NewTable(cfg)
		now := time.Unix(1e9, 0)
		internal := func(b byte) netip.AddrPort {
			return netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 168, 1, 10 + b%4}), 5060+uint16(b/4%2))
		}
		remote := func(b byte) netip.AddrPort {
			return netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, 1 + b%3}), 5060+uint16(b/3%2))
		}
		type contact struct{ internal, remote netip.AddrPort }
		// sent records, per external port, whom its internal endpoint sent to
		// and when; a binding's life starts at its creation.
		sent := map[uint16]map[contact]time.Time{}
		created := map[uint16]time.Time{}
		outbound := 0
		keys := map[[2]netip.AddrPort]bool{}
		for i := 1; i+2 < len(ops); i += 3 {
			in, re := internal(ops[i+1]), remote(ops[i+2])
			switch ops[i] % 4 {
			case 0, 1: // outbound
				ext, isNew, _, err := tab.Outbound(now, in, re)
				if err != nil {
					continue // port space exhausted: refused, not grown
				}
				outbound++
				key := [2]netip.AddrPort{in, {}}
				switch cfg.Mapping {
				case sim.AddressDependent:
					key[1] = netip.AddrPortFrom(re.Addr(), 0)
				case sim.AddressAndPortDependent:
					key[1] = re
				}
				keys[key] = true
				if isNew {
					created[ext.Port()] = now
					sent[ext.Port()] = map[contact]time.Time{}
				}
				if sent[ext.Port()] == nil {
					t.Fatalf("step %d: reused port %d that no outbound datagram created", i, ext.Port())
				}
				sent[ext.Port()][contact{in, re}] = now
			case 2: // inbound to a port the table may or may not hold
				port := cfg.FirstPort
				if port == 0 {
					port = sim.DefaultFirstPort
				}
				if ops[i+1]%2 == 0 {
					for p := range sent {
						port = p
						break
					}
				} else {
					port += uint16(ops[i+1])
				}
				got, ok, _, reason := tab.Inbound(now, re, port)
				if !ok {
					continue
				}
				contacts, had := sent[port]
				if !had {
					t.Fatalf("step %d: inbound from %s let in on port %d, which no outbound datagram created (%s)", i, re, port, reason)
				}
				allowed := false
				for c := range contacts {
					if c.internal != got {
						continue
					}
					switch cfg.Filtering {
					case sim.EndpointIndependent:
						allowed = true
					case sim.AddressDependent:
						allowed = allowed || c.remote.Addr() == re.Addr()
					case sim.AddressAndPortDependent:
						allowed = allowed || c.remote == re
					}
				}
				if !allowed {
					t.Fatalf("step %d: %s filtering let %s in to %s on port %d; contacts %v", i, cfg.Filtering, re, got, port, contacts)
				}
			case 3: // time passes: up to 40 s, so bindings expire
				now = now.Add(time.Duration(ops[i+1]%41) * time.Second)
				for p, c := range created {
					_ = c
					live := false
					for _, b := range tab.Bindings(now) {
						if b.External.Port() == p {
							live = true
						}
					}
					if !live {
						delete(sent, p)
						delete(created, p)
					}
				}
			}
			if n := tab.Size(); n > outbound || n > len(keys) {
				t.Fatalf("step %d: %d bindings after %d outbound datagrams and %d mapping keys", i, n, outbound, len(keys))
			}
		}
	})
}
