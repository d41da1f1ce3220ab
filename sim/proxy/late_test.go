package proxy_test

import (
	"context"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sipnatlab/sipnatlab/sim"
	"github.com/sipnatlab/sipnatlab/sim/endpoint"
	"github.com/sipnatlab/sipnatlab/sim/proxy"
	"github.com/sipnatlab/sipnatlab/sim/ua"
)

// TestLate2xx relays bob's eleven 200 OKs (his ACK never comes: the proxy does not
// Record-Route and his NAT filters alice) through a proxy that fixes his Contact, for
// each late-2xx policy, and checks what left the proxy towards alice: the first four
// (+0, 0.5, 1.5, 3.5 s) in the transaction's 5 s, the seven after it.
func TestLate2xx(t *testing.T) {
	const public, private = "sip:bob@203.0.113.50:", "sip:bob@192.168.1.10:5060"
	for _, c := range []struct {
		late proxy.Late2xx
		want []string // the Contact of each 200 OK the proxy sent, by its prefix
	}{
		{proxy.Late2xxReplyRoute, repeat(public, 11)},
		{proxy.Late2xxRelay, append(repeat(public, 4), repeat(private, 7)...)},
		{proxy.Late2xxDrop, repeat(public, 4)},
	} {
		t.Run(string(c.late), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				got := relayed(t, c.late)
				if len(got) != len(c.want) {
					t.Fatalf("the proxy sent %d 200 OKs, want %d: %q", len(got), len(c.want), got)
				}
				for i := range got {
					if !strings.HasPrefix(got[i], c.want[i]) {
						t.Errorf("200 OK %d carried Contact %s, want %s…", i, got[i], c.want[i])
					}
				}
			})
		})
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

var contactRE = regexp.MustCompile(`(?m)^Contact: <([^>]*)>`)

// bubble is a proxy at 203.0.113.2, bob behind home-nat (192.168.1.10, registered
// with the proxy) and alice at 198.51.100.10, on the memory carrier with package time,
// for a testing/synctest bubble.
type bubble struct {
	net         *sim.Network
	reg         netip.AddrPort // the proxy
	bob, alice  *ua.UA
	closeActors func()
}

func newBubble(t *testing.T, cfg proxy.Config) *bubble {
	t.Helper()
	n := sim.NewNetwork(sim.Config{Carrier: sim.Memory})
	if _, err := n.AddNAT(sim.NATConfig{Name: "home-nat", Public: netip.MustParseAddr("203.0.113.50"),
		LAN: netip.MustParsePrefix("192.168.1.0/24"), Filtering: sim.AddressAndPortDependent}); err != nil {
		t.Fatal(err)
	}
	open := func(name, addr string) *endpoint.Endpoint {
		h, err := n.AddHost(name, netip.MustParseAddr(addr))
		if err != nil {
			t.Fatal(err)
		}
		c, err := h.ListenPacket(5060)
		if err != nil {
			t.Fatal(err)
		}
		return endpoint.New(c, endpoint.Config{Clock: sim.SystemClock{}, IDs: endpoint.NewIDs(1, name)})
	}
	cfg.Name = "proxy"
	px := proxy.New(open("proxy", "203.0.113.2"), cfg)
	b := &bubble{net: n, reg: netip.MustParseAddrPort("203.0.113.2:5060")}
	b.bob = ua.New(open("bob", "192.168.1.10"), ua.Config{Name: "bob", Registrar: b.reg, Domain: b.reg})
	b.alice = ua.New(open("alice", "198.51.100.10"), ua.Config{Name: "alice"})
	b.closeActors = func() { _ = b.alice.Close(); _ = b.bob.Close(); _ = px.Close(); _ = n.Close() }
	if err := b.bob.Register(context.Background()); err != nil {
		t.Fatal(err)
	}
	return b
}

// relayed runs the call and returns the Contact of each 200 OK to INVITE the proxy sent.
func relayed(t *testing.T, late proxy.Late2xx) []string {
	b := newBubble(t, proxy.Config{Registrar: true, NoRecordRoute: true, Handling: proxy.HandlingCorrect, Late2xx: late})
	defer b.closeActors()
	// alice's side ends when her BYE, as lost as her ACK, times out (64*T1 after 1 s of
	// talk), after bob gave up at 32 s.
	_, done, err := b.alice.Dial(b.bob.AOR(), b.reg, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	<-done
	synctest.Wait()
	var out []string
	for _, r := range b.net.Capture().Records() {
		d := string(r.Data)
		if r.Kind == sim.Sent && r.Hop == "proxy" && strings.HasPrefix(d, "SIP/2.0 200") && strings.Contains(d, " INVITE\r\n") {
			if m := contactRE.FindStringSubmatch(d); m != nil {
				out = append(out, m[1])
			} else {
				out = append(out, "none")
			}
		}
	}
	return out
}
