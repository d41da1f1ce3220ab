package sim

import (
	"net/netip"
	"time"
	"unsafe"
)

// RealAddrs returns the real local address of every open socket of the network.
func (n *Network) RealAddrs() []netip.AddrPort {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []netip.AddrPort
	for _, h := range n.hosts {
		for _, c := range h.conns {
			out = append(out, c.RealAddr())
		}
	}
	return out
}

// MemoryQueueLen is the bound of a memory carrier's receive queue.
const MemoryQueueLen = memoryQueueLen

// Table is the NAT state machine, exported for tests.
type Table struct{ t *table }

// NewTable returns an empty NAT table for cfg.
func NewTable(cfg NATConfig) *Table { return &Table{newTable(cfg)} }

// Outbound commits an outbound datagram.
func (t *Table) Outbound(now time.Time, internal, remote netip.AddrPort) (ext netip.AddrPort, created, expired bool, err error) {
	r, err := t.t.outbound(now, internal, remote, true)
	return r.External, r.Created, r.Expired != nil, err
}

// PeekOutbound predicts an outbound datagram without changing the table.
func (t *Table) PeekOutbound(now time.Time, internal, remote netip.AddrPort) (ext netip.AddrPort, created bool, err error) {
	r, err := t.t.outbound(now, internal, remote, false)
	return r.External, r.Created, err
}

// Inbound commits an inbound datagram from remote to external port port.
func (t *Table) Inbound(now time.Time, remote netip.AddrPort, port uint16) (internal netip.AddrPort, ok, expired bool, reason string) {
	r := t.t.inbound(now, remote, port, true)
	return r.Internal, r.OK, r.Expired != nil, r.Reason
}

// Bindings returns the live bindings at now.
func (t *Table) Bindings(now time.Time) []Binding { return t.t.snapshot(now) }

// Size counts all bindings, expired or not.
func (t *Table) Size() int { return len(t.t.byPort) }

// MaxForgedRecords is the number of refused frames a Network records one by one.
const MaxForgedRecords = maxForgedRecords

// Frame encodes a frame of n's loopback carrier, with n's secret, as its own sockets
// write them.
func (n *Network) Frame(id int, src netip.AddrPort, data []byte) []byte {
	return frame{id: id, src: src, data: data}.encode(nil, n.carrier.(loopback).key)
}

// GuessedFrame encodes a frame in the loopback carrier's format with the secret guess.
func GuessedFrame(id int, src netip.AddrPort, data []byte, guess [16]byte) []byte {
	key := secret(guess)
	return frame{id: id, src: src, data: data}.encode(nil, &key)
}

// WriteRaw writes b as it is from c's own real socket to the real address to.
func (c *Conn) WriteRaw(b []byte, to netip.AddrPort) error {
	_, err := c.sock.(*udpSocket).conn.WriteToUDPAddrPort(b, to)
	return err
}

// Expect puts datagram id in flight to c, as the fabric does before from's socket writes
// its frame with virtual source src and payload data.
func (c *Conn) Expect(id int, from *Conn, src netip.AddrPort, data []byte) {
	c.pending.expect(id, from.real, src, data)
}

// NewCapture returns an empty capture on clock whose Log spills as spill says.
func NewCapture(clock Clock, spill SpillConfig) *Capture { return newCapture(clock, spill) }

// Add records r as the fabric does, stamped with the next Seq and the clock's time.
func (c *Capture) Add(r Record) { c.add(r) }

// NewLog returns an empty Log whose first record has Seq first.
func NewLog(spill SpillConfig, first int) *Log { return newLog(spill, first) }

// Append adds r (its Seq first + Len, to be packed) to l.
func (l *Log) Append(r Record) { l.append(r, false) }

// Freeze makes l read-only, as Take does.
func (l *Log) Freeze() { l.freeze() }

// Odd returns the number of records l keeps whole rather than packed.
func (l *Log) Odd() int { return len(l.odd) }

// BreakSpill closes l's spill file under it, so that writing and reading it fail as on
// a failing disk.
func (l *Log) BreakSpill() { _ = l.data.file.Close() }

// RecSize is the size of a packed record.
const RecSize = unsafe.Sizeof(rec{})
