package alg_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/sipnatlab/sipnatlab/sim/alg"
)

const ok = "SIP/2.0 200 OK\r\n" +
	"Via: SIP/2.0/UDP 203.0.113.2:5060;branch=z9hG4bK2\r\n" +
	"Contact: <sip:bob@192.168.10.10:5060>\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: 24\r\n\r\n" +
	"c=IN IP4 192.168.10.10\r\n"

var (
	internal = netip.MustParseAddrPort("192.168.10.10:5060")
	external = netip.MustParseAddrPort("203.0.113.5:40000")
)

func TestFlavours(t *testing.T) {
	for _, tc := range []struct {
		f         alg.Flavour
		contact   string
		body      string
		length    string
		unchanged bool
	}{
		{f: alg.Rewrite, contact: "Contact: <sip:bob@203.0.113.5:40000>", body: "c=IN IP4 203.0.113.5\r\n", length: "Content-Length: 22"},
		{f: alg.ContactHost, contact: "Contact: <sip:bob@203.0.113.5:5060>", body: "c=IN IP4 192.168.10.10\r\n", length: "Content-Length: 24"},
		{f: alg.StaleLength, contact: "Contact: <sip:bob@203.0.113.5:40000>", body: "c=IN IP4 203.0.113.5\r\n", length: "Content-Length: 24"},
	} {
		got := string(tc.f.Func()([]byte(ok), internal, external, true))
		for _, want := range []string{tc.contact + "\r\n", tc.length + "\r\n", "\r\n\r\n" + tc.body} {
			if !strings.Contains(got, want) {
				t.Errorf("%s: %q lacks %q", tc.f, got, want)
			}
		}
		if !strings.Contains(got, "Via: SIP/2.0/UDP 203.0.113.2:5060;branch=z9hG4bK2\r\n") {
			t.Errorf("%s: rewrote a Via that is not the phone's: %q", tc.f, got)
		}
	}
}

func TestNoneAndParse(t *testing.T) {
	if alg.None.Func() != nil {
		t.Error("none has an ALG")
	}
	for _, f := range alg.Flavours {
		if g, err := alg.Parse(string(f)); err != nil || g != f {
			t.Errorf("Parse(%q) = %q, %v", f, g, err)
		}
	}
	if _, err := alg.Parse("on"); err == nil {
		t.Error(`Parse("on") accepted`)
	}
}
