package realproxy

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/sipnatlab/sipnatlab/harness/scenario"
)

func TestUDPPacketRoundTrip(t *testing.T) {
	src, dst := netip.MustParseAddrPort("198.51.100.10:5060"), netip.MustParseAddrPort("203.0.113.2:5060")
	pkt := udpPacket(src, dst, []byte("OPTIONS sip:x SIP/2.0\r\n\r\n"))
	if ipChecksum(pkt[:20]) != 0 {
		t.Fatalf("header checksum does not verify: %x", ipChecksum(pkt[:20]))
	}
	s, d, p, ok := parseUDP(pkt)
	if !ok || s != src || d != dst || string(p) != "OPTIONS sip:x SIP/2.0\r\n\r\n" {
		t.Fatalf("parseUDP = %v %v %q %v", s, d, p, ok)
	}
	frag := append([]byte(nil), pkt...)
	frag[6] |= 0x20 // more fragments
	if _, _, _, ok := parseUDP(frag); ok {
		t.Error("a fragment was taken for a whole datagram")
	}
	tcp := append([]byte(nil), pkt...)
	tcp[9] = 6
	if _, _, _, ok := parseUDP(tcp); ok {
		t.Error("TCP was taken for UDP")
	}
	if _, _, _, ok := parseUDP(pkt[:10]); ok {
		t.Error("a truncated packet was accepted")
	}
}

func TestNXDOMAIN(t *testing.T) {
	// A query for "a.b" type A, class IN, with RD set.
	q := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1, 1, 'a', 1, 'b', 0, 0, 1, 0, 1, 0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0}
	r := nxdomain(q)
	if r == nil {
		t.Fatal("no answer")
	}
	if r[0] != 0x12 || r[1] != 0x34 || r[2] != 0x81 || r[3]&0x0f != 3 {
		t.Errorf("header % x: want the query's id, QR and RD, RCODE 3", r[:4])
	}
	if len(r) != 21 || r[11] != 0 {
		t.Errorf("answer % x: want the question only", r)
	}
	if nxdomain(r) != nil {
		t.Error("a response was answered")
	}
}

func TestSafeAddresses(t *testing.T) {
	s := &scenario.Scenario{
		Hosts: []scenario.Host{
			{Name: "alice", Address: netip.MustParseAddrPort("8.8.8.8:5060")},
			{Name: "proxy-b", Address: netip.MustParseAddrPort("203.0.113.2:5060")},
			{Name: "bob", Address: netip.MustParseAddrPort("192.168.1.10:5060"), NAT: "home"},
		},
		NATs: []scenario.NAT{{Name: "home", Public: netip.MustParseAddr("1.1.1.1")}},
	}
	c, mapped := withSafeAddresses(s)
	if len(mapped) != 2 || mapped["alice"] == "" || mapped["home"] == "" {
		t.Fatalf("mapped %v: want alice and home", mapped)
	}
	a, _ := c.Host("alice")
	b, _ := c.Host("proxy-b")
	if !Usable(a.Address.Addr()) || a.Address.Port() != 5060 || b.Address != s.Hosts[1].Address || !Usable(c.NATs[0].Public) {
		t.Errorf("relocated: %v %v %v", a.Address, b.Address, c.NATs[0].Public)
	}
	if s.Hosts[0].Address.Addr().String() != "8.8.8.8" {
		t.Error("the original scenario was changed")
	}
	if same, m := withSafeAddresses(c); same != c || m != nil {
		t.Error("a scenario with usable addresses only was copied")
	}
}

func TestNotReadySaysWhatHappened(t *testing.T) {
	r := &relay{addr: netip.MustParseAddrPort("203.0.113.1:5060"), probe: netip.MustParseAddrPort("198.19.255.254:5060"),
		strays: []string{`"OPTIONS sip:203.0.113.1:5060 SIP/2.0" from 203.0.113.1:5060 to 203.0.113.2:5060`}}
	err := r.notReady(" 0(1) INFO: <core> started\n", "proxy-a (kamailio, x.cfg)", 50, nil)
	for _, want := range []string{
		"proxy-a (kamailio, x.cfg) is not ready after 10s",
		"sent 50 SIP OPTIONS sip:203.0.113.1:5060 from 198.19.255.254:5060",
		"no response came back",
		`the proxy sent elsewhere instead: "OPTIONS sip:203.0.113.1:5060 SIP/2.0" from 203.0.113.1:5060 to 203.0.113.2:5060`,
		"a config must listen on UDP 203.0.113.1:5060, its host's scenario address",
		"even 404 or 483",
		"last log lines:\n0(1) INFO: <core> started",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
}
