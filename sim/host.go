package sim

import (
	"fmt"
	"net/netip"
)

// firstEphemeral is the start of the dynamic port range (RFC 6335 §6) that ListenPacket
// picks from when asked for port 0.
const firstEphemeral uint16 = 49152

// Host is a machine with one virtual IPv4 address, on the public side or on a NAT's LAN.
// Its methods are safe for concurrent use.
type Host struct {
	net  *Network
	name string
	addr netip.Addr
	nat  *NAT

	conns     map[uint16]*Conn // open Conns by virtual port; guarded by net.mu
	ephemeral uint16           // next ephemeral port to try; guarded by net.mu
}

// Name returns the host's name.
func (h *Host) Name() string { return h.name }

// Addr returns the host's virtual address.
func (h *Host) Addr() netip.Addr { return h.addr }

// NAT returns the NAT in front of the host, or nil if the host is public.
func (h *Host) NAT() *NAT { return h.nat }

// ListenPacket opens the virtual endpoint Addr():port, backed by a fresh real UDP socket on
// 127.0.0.1 with the loopback carrier, or by a fresh receive queue with the memory carrier. Port 0 picks a free ephemeral port, 49152 or above. It fails if the port is
// already open on this host, or with ErrClosed once the network is closed.
func (h *Host) ListenPacket(port uint16) (*Conn, error) {
	n := h.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, fmt.Errorf("listen %s on %s: %w", netip.AddrPortFrom(h.addr, port), h.name, ErrClosed)
	}
	if port == 0 {
		port = h.pickEphemeral()
		if port == 0 {
			return nil, fmt.Errorf("listen %s:0 on %s: no free ephemeral port", h.addr, h.name)
		}
	} else if h.conns[port] != nil {
		return nil, fmt.Errorf("listen %s on %s: port already in use", netip.AddrPortFrom(h.addr, port), h.name)
	}
	sock, err := n.carrier.open()
	if err != nil {
		return nil, fmt.Errorf("listen %s on %s: %w", netip.AddrPortFrom(h.addr, port), h.name, err)
	}
	c := &Conn{net: n, host: h, local: netip.AddrPortFrom(h.addr, port), sock: sock}
	if us, ok := sock.(*udpSocket); ok {
		c.real = us.addr
	}
	h.conns[port] = c
	return c, nil
}

// pickEphemeral returns a free port from the dynamic range, or 0. Callers hold net.mu.
func (h *Host) pickEphemeral() uint16 {
	p := h.ephemeral
	for range int(^uint16(0)-firstEphemeral) + 1 {
		next := p + 1
		if next == 0 {
			next = firstEphemeral
		}
		if h.conns[p] == nil {
			h.ephemeral = next
			return p
		}
		p = next
	}
	return 0
}
