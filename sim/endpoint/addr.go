package endpoint

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// AddReceived applies RFC 3261 §18.2.1 and RFC 3581 §4 to the top Via of a
// request read from src: received= when the sent-by host differs from the
// source (or rport is present), rport= filled with the source port.
func AddReceived(req *sip.Request, src netip.AddrPort) {
	via := req.Via()
	if via == nil {
		return
	}
	rport, hasRport := via.Params.Get("rport")
	if via.Host != src.Addr().String() || hasRport {
		via.Params.Add("received", src.Addr().String())
	}
	if hasRport && rport == "" {
		via.Params.Add("rport", strconv.Itoa(int(src.Port())))
	}
}

// ResponseTarget is where a response goes according to its top Via
// (RFC 3261 §18.2.2 and RFC 3581 §4): received/rport when present, else the
// sent-by host and port (DefaultPort by default).
func ResponseTarget(res *sip.Response) (netip.AddrPort, error) {
	via := res.Via()
	if via == nil {
		return netip.AddrPort{}, errors.New("response has no Via")
	}
	host := via.Host
	if rcv, ok := via.Params.Get("received"); ok && rcv != "" {
		host = rcv
	}
	port := via.Port
	if port == 0 {
		port = DefaultPort
	}
	if rp, ok := via.Params.Get("rport"); ok && rp != "" {
		if p, err := strconv.Atoi(rp); err == nil {
			port = p
		}
	}
	return HostPort(host, port)
}

// HostPort turns an IP literal and a port (0 meaning DefaultPort) into an address.
func HostPort(host string, port int) (netip.AddrPort, error) {
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1] // an IPv6reference (RFC 3261 §25.1)
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("host %q is not an IP address", host)
	}
	if port == 0 {
		port = DefaultPort
	}
	if port < 0 || port > 65535 {
		return netip.AddrPort{}, fmt.Errorf("port %d out of range", port)
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
}

// URIAddr is the address a SIP URI with an IP-literal host names.
func URIAddr(u sip.Uri) (netip.AddrPort, error) { return HostPort(u.Host, u.Port) }

// Via returns a new Via header for this endpoint with the given branch and,
// if rport is set, an empty rport parameter (RFC 3581 §3).
func (e *Endpoint) Via(branch string, rport bool) *sip.ViaHeader {
	p := sip.NewParams()
	p.Add("branch", branch)
	if rport {
		p.Add("rport", "")
	}
	return &sip.ViaHeader{
		ProtocolName:    "SIP",
		ProtocolVersion: "2.0",
		Transport:       "UDP",
		Host:            e.addr.Addr().String(),
		Port:            int(e.addr.Port()),
		Params:          p,
	}
}
