package sim_test

import (
	"fmt"
	"net/netip"

	"github.com/sipnatlab/sipnatlab/sim"
)

// A phone behind a NAT registers with a public proxy; the proxy sees the NAT's binding,
// and the capture says what happened at each hop.
func Example() {
	n := sim.NewNetwork(sim.Config{})
	defer n.Close()
	if _, err := n.AddNAT(sim.NATConfig{
		Name:      "home-nat",
		Public:    netip.MustParseAddr("203.0.113.50"),
		LAN:       netip.MustParsePrefix("192.168.1.0/24"),
		Filtering: sim.AddressAndPortDependent,
	}); err != nil {
		panic(err)
	}
	alice, _ := n.AddHost("alice", netip.MustParseAddr("192.168.1.10"))
	proxy, _ := n.AddHost("proxy", netip.MustParseAddr("203.0.113.2"))
	a, _ := alice.ListenPacket(5060)
	p, _ := proxy.ListenPacket(5060)

	a.WriteToAddrPort([]byte("REGISTER"), netip.MustParseAddrPort("203.0.113.2:5060"))
	buf := make([]byte, 1500)
	_, from, _ := p.ReadFrom(buf)
	fmt.Println("proxy sees", from)

	// The proxy's reply would reach alice; a private Contact would not.
	for _, dst := range []string{"203.0.113.50:40000", "192.168.1.10:5060"} {
		host, port, ok, why := n.Resolve("proxy", netip.MustParseAddrPort(dst))
		if ok {
			fmt.Printf("%s reaches %s port %d\n", dst, host, port)
		} else {
			fmt.Printf("%s is dropped: %s\n", dst, why)
		}
	}

	for _, r := range n.Capture().Records() {
		fmt.Printf("%s at %s: %s -> %s", r.Kind, r.Hop, r.Src, r.Dst)
		if r.Reason != "" {
			fmt.Printf(" (%s)", r.Reason)
		}
		fmt.Println()
	}
	// Output:
	// proxy sees 203.0.113.50:40000
	// 203.0.113.50:40000 reaches alice port 5060
	// 192.168.1.10:5060 is dropped: no route to private address 192.168.1.10:5060 from 203.0.113.2 (it lies behind home-nat)
	// sent at alice: 192.168.1.10:5060 -> 203.0.113.2:5060
	// binding-created at home-nat: 192.168.1.10:5060 -> 203.0.113.2:5060 (endpoint-independent mapping)
	// translated at home-nat: 192.168.1.10:5060 -> 203.0.113.2:5060 (new binding 192.168.1.10:5060 -> 203.0.113.50:40000)
	// delivered at proxy: 203.0.113.50:40000 -> 203.0.113.2:5060
}
