package sim

import (
	"bytes"
	"fmt"
	"net/netip"
	"sync"
)

// Forged frames.
//
// A loopback run's sockets listen on 127.0.0.1, where any process on the machine can write
// to them. Only the run's own fabric may deliver into the run, so the receiving Conn
// admits a frame only when all of these hold:
//
//   - it carries the network's secret (carrier.go), so it was written by this run's
//     carrier and not by another process or another run;
//   - its datagram id is in flight to this Conn: the fabric routed that datagram here and
//     handed it to the carrier, and no frame with that id has been admitted yet, so a
//     repeated id is refused;
//   - it comes from the real socket of the Conn that wrote that datagram, with the virtual
//     source the routing gave it and the payload it was written with.
//
// Anything else is refused, never delivered, and recorded as an intrusion: a Dropped
// record with Datagram 0 (it is no datagram of the network, so nothing that groups the
// capture by datagram takes it for traffic), Cause CauseForged, Hop the receiving host, Dst
// the receiving endpoint, Src the virtual source the frame claimed (zero when its header
// was unreadable), and a Reason naming its real source, its size and why it was refused.
// Its payload is not kept.
//
// A flood costs bounded memory: the first maxForgedRecords refused frames of a network are
// recorded one by one; after that only Stats.Forged counts them, and one summary record is
// added each time the count doubles (so 200,000 forged frames leave 64 + 11 records). A
// refused frame is read into the receiving Conn's pooled read buffer, and refusing it past
// the first records allocates nothing.
//
// The in-flight set costs one small entry per datagram between the write and the read.
// An entry whose frame the kernel lost (a full socket buffer) stays until its Conn closes;
// it is smaller than the capture's own records of that datagram.

// maxForgedRecords is the number of refused frames a Network records one by one; a power
// of two. It is kept small because the records of a flood between two datagrams travel
// together in one pcapng comment of at most 64 KiB when a report writes the capture.
const maxForgedRecords = 64

// refusal says why a frame read from a loopback socket was refused; 0 for admitted.
type refusal uint8

const (
	refusedShort         refusal = iota + 1 // shorter than the frame header
	refusedMagic                            // no frame magic
	refusedSecret                           // not the network's secret
	refusedNotLoopback                      // from outside 127.0.0.0/8
	refusedNotInFlight                      // its id is not in flight to this Conn
	refusedSource                           // not from the socket that wrote its datagram
	refusedVirtualSource                    // not the virtual source its datagram was routed with
	refusedPayload                          // not the payload its datagram was sent with
)

// describe says why f was refused, in words.
func (r refusal) describe(f frame, e expected) string {
	switch r {
	case refusedShort:
		return "shorter than the frame header"
	case refusedMagic:
		return "not a frame of this fabric (no " + frameMagic + " magic)"
	case refusedSecret:
		return "not this run's secret"
	case refusedNotLoopback:
		return "not from 127.0.0.0/8"
	case refusedNotInFlight:
		return fmt.Sprintf("datagram %d is not in flight to this endpoint (never sent here, or already delivered)", f.id)
	case refusedSource:
		return fmt.Sprintf("datagram %d was written by the run's socket %s, not this one", f.id, e.from)
	case refusedVirtualSource:
		return fmt.Sprintf("datagram %d claims virtual source %s, the fabric routed it from %s", f.id, f.src, e.src)
	case refusedPayload:
		return fmt.Sprintf("datagram %d carries %d bytes other than the %d it was sent with", f.id, len(f.data), len(e.data))
	}
	return "refused"
}

// expected is a datagram in flight to a Conn: the real socket that writes its frame, the
// virtual source the frame carries, and the payload as the capture recorded it when it was
// sent, which the Delivered record shares instead of copying the frame's.
type expected struct {
	from, src netip.AddrPort
	data      []byte
}

// inflight is the set of datagrams the fabric has handed to the loopback carrier for one
// Conn and that Conn has not admitted yet. Its zero value is empty.
type inflight struct {
	mu sync.Mutex
	m  map[int]expected // by datagram id; nil once the Conn is closed
	// closed: the Conn is closed and expects nothing more.
	closed bool
}

// expect adds datagram id, written from the real socket from with virtual source src and
// payload data (shared with its Sent record).
func (in *inflight) expect(id int, from, src netip.AddrPort, data []byte) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return
	}
	if in.m == nil {
		in.m = make(map[int]expected)
	}
	in.m[id] = expected{from: from, src: src, data: data}
}

// forget removes datagram id, whose frame was never written.
func (in *inflight) forget(id int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	delete(in.m, id)
}

// admit removes f's datagram from the set and returns 0 if f is that datagram's frame, or
// why f is refused, with the expectation it failed.
func (in *inflight) admit(f frame) (refusal, expected) {
	if f.refused != 0 {
		return f.refused, expected{}
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	e, ok := in.m[f.id]
	switch {
	case !ok:
		return refusedNotInFlight, e
	case e.from != f.from:
		return refusedSource, e
	case e.src != f.src:
		return refusedVirtualSource, e
	case !bytes.Equal(e.data, f.data):
		return refusedPayload, e
	}
	delete(in.m, f.id)
	return 0, e
}

// close empties the set for good.
func (in *inflight) close() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.m, in.closed = nil, true
}

// refuse counts a frame c refused and records it, or a summary, within the bounds above.
func (n *Network) refuse(c *Conn, f frame, why refusal, e expected) {
	k := n.forged.Add(1)
	switch {
	case k <= maxForgedRecords:
		n.capture.add(Record{Kind: Dropped, Hop: c.host.name, Src: f.src, Dst: c.local, Cause: CauseForged,
			Reason: fmt.Sprintf("forged frame of %d bytes from %s refused: %s", f.size, f.from, why.describe(f, e))})
	case k&(k-1) == 0: // a power of two past maxForgedRecords, itself a power of two
		n.capture.add(Record{Kind: Dropped, Hop: c.host.name, Src: f.src, Dst: c.local, Cause: CauseForged,
			Reason: fmt.Sprintf("%d forged frames refused so far, only the first %d recorded one by one; the latest of %d bytes from %s: %s",
				k, maxForgedRecords, f.size, f.from, why.describe(f, e))})
	}
}
