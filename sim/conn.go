package sim

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"
)

// maxPayload is the largest payload a Conn accepts: the IPv4 UDP limit less the loopback
// carrier's frame header, whichever carrier is in use.
const maxPayload = 65507 - headerLen

// Conn is a virtual UDP endpoint of a [Host]. It implements net.PacketConn with virtual
// addresses: LocalAddr and the addresses ReadFrom returns are *net.UDPAddr holding virtual
// IPv4 addresses (4-byte form), and WriteTo takes a virtual destination. Underneath, each
// Conn owns a real UDP socket on 127.0.0.1. A Conn is safe for concurrent use.
type Conn struct {
	net    *Network
	host   *Host
	local  netip.AddrPort
	real   netip.AddrPort // the real socket behind c (loopback carrier); zero for memory
	sock   socket
	closed atomic.Bool
	last   atomic.Int64 // the datagram c read last, for Note
	// pending holds the datagrams handed to the loopback carrier for c and not yet read:
	// the only frames c admits (forgery.go).
	pending inflight
}

var _ net.PacketConn = (*Conn)(nil)

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "udp", Source: c.LocalAddr(), Err: err}
}

// ReadFrom reads the next datagram delivered to c, records it as Delivered and returns its
// virtual source as the receiver sees it (after any NAT). A payload longer than p is
// truncated. After Close it returns an error for which errors.Is(err, net.ErrClosed) holds.
// With the loopback carrier, a frame that the run's fabric did not send to c (written by
// another process, or replayed) is never returned: ReadFrom records it as forged and reads
// on (see [CauseForged]).
func (c *Conn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, src, err := c.ReadFromAddrPort(p)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(src), nil
}

// ReadFromAddrPort is ReadFrom returning the virtual source as a netip.AddrPort.
func (c *Conn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	if c.closed.Load() {
		return 0, netip.AddrPort{}, c.opError("read", ErrClosed)
	}
	var scratch []byte
	if c.net.kind == Loopback {
		bp := c.net.bufs.Get().(*[]byte)
		defer c.net.bufs.Put(bp)
		scratch = *bp
	}
	var f frame
	for {
		var err error
		f, err = c.sock.recv(scratch)
		if err != nil {
			if c.closed.Load() || errors.Is(err, net.ErrClosed) {
				return 0, netip.AddrPort{}, c.opError("read", ErrClosed)
			}
			var oe *net.OpError
			if errors.As(err, &oe) {
				err = oe.Err
			}
			return 0, netip.AddrPort{}, c.opError("read", err)
		}
		if c.net.kind != Loopback {
			break
		}
		if c.closed.Load() {
			return 0, netip.AddrPort{}, c.opError("read", ErrClosed)
		}
		why, e := c.pending.admit(f)
		if why == 0 {
			// The payload the Sent record holds, equal to the frame's, which lives in a
			// pooled read buffer: the capture keeps one copy per datagram, not one per hop.
			f.data = e.data
			break
		}
		c.net.refuse(c, f, why, e)
	}
	n := copy(p, f.data)
	c.last.Store(int64(f.id))
	c.net.capture.add(Record{Datagram: f.id, Kind: Delivered, Hop: c.host.name, Src: f.src, Dst: c.local, Data: f.data})
	c.net.delivered.Add(1)
	return n, f.src, nil
}

// SetReceiver switches c to push delivery: every datagram for c is recorded
// as Delivered and handed to f by an event of the network's [VirtualClock],
// in the goroutine that drives the clock, instead of being read with
// ReadFrom. It works only on a Network with the Memory carrier and a
// *VirtualClock, and reports false (changing nothing) otherwise. f must not
// keep p after it returns.
func (c *Conn) SetReceiver(f func(p []byte, src netip.AddrPort)) bool {
	vc, ok := c.net.clock.(*VirtualClock)
	ms, isMem := c.sock.(*memSocket)
	if !ok || !isMem || f == nil {
		return false
	}
	ms.mu.Lock()
	ms.pushClock = vc
	ms.push = func(fr frame) {
		if c.closed.Load() {
			return
		}
		// fr.data is the sender's private copy, already shared by its Sent record.
		c.last.Store(int64(fr.id))
		c.net.capture.add(Record{Datagram: fr.id, Kind: Delivered, Hop: c.host.name, Src: fr.src, Dst: c.local, Data: fr.data})
		c.net.delivered.Add(1)
		f(fr.data, fr.src)
	}
	ms.mu.Unlock()
	return true
}

// Note records in the capture what c's owner did with the datagram it read last (or,
// with about false, with the conversation flow alone): a Noted record at c's host with
// cause and reason. Owners that handle datagrams one at a time on their read goroutine
// (or push receiver) call it while handling one, so the note names that datagram.
// After Close it records nothing.
func (c *Conn) Note(about bool, flow string, cause Cause, reason string) {
	if c.closed.Load() {
		return
	}
	id := 0
	if about {
		id = int(c.last.Load())
	}
	c.net.capture.add(Record{Datagram: id, Kind: Noted, Hop: c.host.name, Dst: c.local, Flow: flow, Cause: cause, Reason: reason})
}

// WriteTo sends p to the virtual destination addr: a *net.UDPAddr, or any net.Addr whose
// String() parses as address:port. Like real UDP, a datagram the fabric drops is not an
// error: WriteTo returns len(p), nil and the Capture records why it was dropped.
func (c *Conn) WriteTo(p []byte, addr net.Addr) (int, error) {
	var dst netip.AddrPort
	switch a := addr.(type) {
	case nil:
		return 0, c.opError("write", errors.New("missing destination address"))
	case *net.UDPAddr:
		if a == nil {
			return 0, c.opError("write", errors.New("missing destination address"))
		}
		dst = a.AddrPort()
	default:
		var err error
		if dst, err = netip.ParseAddrPort(addr.String()); err != nil {
			return 0, c.opError("write", fmt.Errorf("destination %q: %w", addr.String(), err))
		}
	}
	return c.WriteToAddrPort(p, dst)
}

// WriteToAddrPort is WriteTo with a netip.AddrPort destination.
func (c *Conn) WriteToAddrPort(p []byte, dst netip.AddrPort) (int, error) {
	if c.closed.Load() {
		return 0, c.opError("write", ErrClosed)
	}
	if len(p) > maxPayload {
		return 0, c.opError("write", fmt.Errorf("payload of %d bytes exceeds %d", len(p), maxPayload))
	}
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	data := p
	if data == nil {
		data = []byte{}
	}
	v, id, err := c.net.send(c, dst, data)
	if err != nil {
		return 0, c.opError("write", err)
	}
	if !v.ok || v.queued {
		return len(p), nil
	}
	v.to.pending.expect(id, c.real, v.src, v.data)
	if err := c.sock.send(v.to.sock, frame{id: id, src: v.src, data: v.data}); err != nil {
		v.to.pending.forget(id)
		if c.closed.Load() || errors.Is(err, net.ErrClosed) {
			return 0, c.opError("write", ErrClosed)
		}
		var oe *net.OpError
		if errors.As(err, &oe) {
			err = oe.Err
		}
		return 0, c.opError("write", err)
	}
	c.net.realSent.Add(1)
	return len(p), nil
}

// Close closes c and its socket or queue; a blocked ReadFrom returns. It is idempotent.
func (c *Conn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	n := c.net
	n.mu.Lock()
	if c.host.conns[c.local.Port()] == c {
		delete(c.host.conns, c.local.Port())
	}
	n.mu.Unlock()
	c.pending.close()
	return c.sock.close()
}

// LocalAddrPort returns the virtual endpoint of c.
func (c *Conn) LocalAddrPort() netip.AddrPort { return c.local }

// RealAddr returns the real UDP socket on 127.0.0.1 behind c with the loopback carrier
// (what tshark on lo shows for this endpoint), or the zero AddrPort with the memory
// carrier.
func (c *Conn) RealAddr() netip.AddrPort { return c.real }

// LocalAddr returns the virtual endpoint of c as a *net.UDPAddr.
func (c *Conn) LocalAddr() net.Addr { return net.UDPAddrFromAddrPort(c.local) }

// SetDeadline sets the read and write deadlines of the underlying socket or queue. Like a
// real socket's, they are measured by package time, which inside a testing/synctest bubble
// is simulated.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline of the underlying socket or queue; it also
// applies to a ReadFrom already blocked.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if err := c.sock.setReadDeadline(t); err != nil {
		return c.opError("set", err)
	}
	return nil
}

// SetWriteDeadline sets the write deadline of the underlying socket or queue.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if err := c.sock.setWriteDeadline(t); err != nil {
		return c.opError("set", err)
	}
	return nil
}
