// Package alg is the SIP application-level gateway of a home router ("SIP ALG"), in the
// flavours routers ship: it rewrites the private address of an outbound SIP message's
// headers (and body) to the NAT's public mapping. It plugs into a NAT box as
// sim.NATConfig.ALG, so package sim itself knows no SIP.
package alg

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
)

// Flavour is what a router's SIP ALG rewrites, the words of a scenario's "sip-alg" key.
type Flavour string

const (
	// None: no ALG; the payload crosses the NAT untouched.
	None Flavour = "none"
	// Rewrite rewrites the private address and port in the Via and Contact headers to
	// the public mapping, the private address in the SDP body to the public address,
	// and updates Content-Length.
	Rewrite Flavour = "rewrite"
	// ContactHost rewrites only the host of the Contact to the NAT's public address and
	// keeps the private port, a port the NAT has no binding for.
	ContactHost Flavour = "contact-host"
	// StaleLength rewrites like Rewrite but leaves Content-Length as it was: a body that
	// shrank no longer holds the bytes the header promises, and the receiver cannot
	// parse the message (RFC 3261 §18.3).
	StaleLength Flavour = "stale-length"
)

// Flavours lists the flavours in the order errors name them.
var Flavours = []Flavour{None, Rewrite, ContactHost, StaleLength}

// Parse parses one of the words of Flavours.
func Parse(s string) (Flavour, error) {
	for _, f := range Flavours {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("parse sip-alg %q: want none, rewrite, contact-host or stale-length", s)
}

// Func returns the ALG of flavour f as sim.NATConfig.ALG wants it, or nil for None
// and "". Outbound it rewrites as the flavour says; inbound, the flavours that rewrote
// the Via turn the public mapping in the Via headers back into the private address, so
// that responses match the phone's transactions (RFC 3261 §17.1.3), as real ALGs do.
func (f Flavour) Func() func(p []byte, internal, external netip.AddrPort, outbound bool) []byte {
	switch f {
	case Rewrite, ContactHost, StaleLength:
		return func(p []byte, internal, external netip.AddrPort, outbound bool) []byte {
			if !outbound {
				return f.restore(p, internal, external)
			}
			return f.apply(p, internal, external)
		}
	}
	return nil
}

// restore rewrites the public mapping in the Via headers of an inbound message back to
// the private address.
func (f Flavour) restore(p []byte, internal, external netip.AddrPort) []byte {
	head, body, ok := bytes.Cut(p, []byte("\r\n\r\n"))
	if f == ContactHost || !ok || !bytes.Contains(head, []byte("SIP/2.0")) {
		return p
	}
	lines := bytes.Split(head, crlf)
	for i, l := range lines {
		if n := headerName(l); i > 0 && (n == "via" || n == "v") {
			lines[i] = bytes.ReplaceAll(l, []byte(external.String()), []byte(internal.String()))
		}
	}
	return append(append(bytes.Join(lines, crlf), "\r\n\r\n"...), body...)
}

var crlf = []byte("\r\n")

// apply rewrites one SIP message; anything else (a CRLF keep-alive) passes unchanged.
func (f Flavour) apply(p []byte, internal, external netip.AddrPort) []byte {
	head, body, ok := bytes.Cut(p, []byte("\r\n\r\n"))
	if !ok || !bytes.Contains(head, []byte("SIP/2.0")) {
		return p
	}
	inHost, exHost := []byte(internal.Addr().String()), []byte(external.Addr().String())
	inHP, exHP := []byte(internal.String()), []byte(external.String())
	lines := bytes.Split(head, crlf)
	out := make([][]byte, 0, len(lines))
	lengthAt := -1
	for i, l := range lines {
		name := headerName(l)
		switch {
		case i == 0:
		case name == "content-length" || name == "l":
			lengthAt = len(out)
		case f == ContactHost && (name == "contact" || name == "m"):
			l = bytes.ReplaceAll(l, inHost, exHost)
		case f != ContactHost && (name == "contact" || name == "m" || name == "via" || name == "v"):
			l = bytes.ReplaceAll(bytes.ReplaceAll(l, inHP, exHP), inHost, exHost)
		}
		out = append(out, l)
	}
	if f != ContactHost {
		body = bytes.ReplaceAll(body, inHost, exHost)
	}
	if lengthAt >= 0 && f == Rewrite {
		out[lengthAt] = []byte("Content-Length: " + strconv.Itoa(len(body)))
	}
	res := append(bytes.Join(out, crlf), "\r\n\r\n"...)
	return append(res, body...)
}

// headerName is the lower-case name of a header line, "" for a line without a colon.
func headerName(l []byte) string {
	name, _, ok := bytes.Cut(l, []byte(":"))
	if !ok {
		return ""
	}
	return string(bytes.ToLower(bytes.TrimSpace(name)))
}
