package sim

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// CarrierKind selects how a [Network] moves datagrams between its endpoints. Its zero value
// is Loopback.
type CarrierKind int

const (
	// Loopback backs every virtual endpoint with a real UDP socket on 127.0.0.1, so
	// datagrams really cross the kernel's loopback interface.
	Loopback CarrierKind = iota
	// Memory backs every virtual endpoint with a receive queue in memory: no sockets, no
	// goroutines, and blocking only on channels and timers, so a whole run can execute
	// inside a testing/synctest bubble on simulated time.
	Memory
)

var carrierWords = [...]string{Loopback: "loopback", Memory: "memory"}

// ParseCarrier parses "loopback" or "memory".
func ParseCarrier(s string) (CarrierKind, error) {
	for k, w := range carrierWords {
		if s == w {
			return CarrierKind(k), nil
		}
	}
	return 0, fmt.Errorf("parse carrier %q: want loopback or memory", s)
}

// String returns "loopback" or "memory", as accepted by [ParseCarrier].
func (k CarrierKind) String() string {
	if k.valid() {
		return carrierWords[k]
	}
	return "CarrierKind(" + strconv.Itoa(int(k)) + ")"
}

func (k CarrierKind) valid() bool { return k >= 0 && int(k) < len(carrierWords) }

// carrier moves datagrams between the sockets behind virtual endpoints: real UDP sockets
// for loopback, receive queues for memory.
type carrier interface {
	// open returns a fresh socket for one virtual endpoint.
	open() (socket, error)
}

// socket is one carrier endpoint. send and recv carry a frame: the datagram id and the
// virtual source as the receiver must see it, plus the payload. The loopback carrier's
// recv also returns what it read that is no frame of its run, marked refused.
type socket interface {
	// send hands f to the socket to. The memory carrier's send never blocks; it fails with
	// errQueueFull when to's receive queue is full.
	send(to socket, f frame) error
	// recv blocks for the next frame; p is scratch space the payload may be read into.
	recv(p []byte) (frame, error)
	close() error
	setReadDeadline(t time.Time) error
	setWriteDeadline(t time.Time) error
}

// frame is a datagram as it travels between two sockets.
type frame struct {
	id   int
	src  netip.AddrPort // virtual source after NAT
	data []byte

	// Set by the loopback carrier on receipt, for the receiving Conn to judge the frame.
	from    netip.AddrPort // the real socket it came from
	size    int            // its length on the wire, header included
	refused refusal        // why it is no frame of this run's carrier; 0 when well formed
}

// The loopback frame header: magic, the network's secret, datagram id, virtual source IPv4
// address and port.
//
// The secret is 16 random bytes drawn once per Network (crypto/rand) and held only in this
// process's memory. It proves that a frame was written by the carrier of this very run, so
// another process, or another run, cannot speak the protocol: it would have to guess 128
// random bits. What a frame must also satisfy to be delivered (its real source, its
// datagram id) is checked by the receiving Conn (forgery.go).
//
// The secret travels in clear rather than as a MAC over the frame. The threat is an
// unprivileged local process, which can neither read lo nor write from a port the run
// holds. A process that can capture on lo and send raw packets (CAP_NET_RAW) could read
// the secret and race a datagram in flight with a spoofed frame; a MAC over id, source and
// payload would keep it from altering a payload (not from replaying one first), at the
// price of hashing every payload on both sides.
const (
	frameMagic  = "SNL2"
	secretLen   = 16
	headerLen   = len(frameMagic) + secretLen + 8 + 4 + 2
	maxDatagram = 65535
)

// secret is a Network's frame secret.
type secret [secretLen]byte

// newSecret draws a fresh secret from crypto/rand, which never fails (Go 1.24).
func newSecret() secret {
	var s secret
	_, _ = rand.Read(s[:])
	return s
}

// encode appends f, as the loopback carrier writes it with the secret key, to b[:0].
func (f frame) encode(b []byte, key *secret) []byte {
	b = append(append(b[:0], frameMagic...), key[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(f.id))
	a := f.src.Addr().As4()
	b = binary.BigEndian.AppendUint16(append(b, a[:]...), f.src.Port())
	return append(b, f.data...)
}

// decodeFrame reads b as a frame of the carrier whose secret is key. A frame it refuses
// has refused set and, when its header was readable, its id and virtual source.
func decodeFrame(b []byte, key *secret) frame {
	f := frame{size: len(b)}
	switch {
	case len(b) < headerLen:
		f.refused = refusedShort
	case string(b[:4]) != frameMagic:
		f.refused = refusedMagic
	default:
		f.id = int(binary.BigEndian.Uint64(b[20:]))
		f.src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[28:32])), binary.BigEndian.Uint16(b[32:]))
		f.data = b[headerLen:]
		if subtle.ConstantTimeCompare(b[4:20], key[:]) != 1 {
			f.refused = refusedSecret
		}
	}
	return f
}

// loopbackNet is the only network the loopback carrier ever writes to.
var loopbackNet = netip.MustParsePrefix("127.0.0.0/8")

// errNotLoopback is returned, and nothing is written, if a loopback socket is asked to
// write to an address outside 127.0.0.0/8.
var errNotLoopback = errors.New("refusing to write outside 127.0.0.0/8")

// loopback is the default carrier: one real UDP socket on 127.0.0.1 per virtual endpoint,
// so datagrams really cross the kernel's loopback interface. Every frame carries the
// network's secret.
type loopback struct {
	key  *secret
	bufs *sync.Pool // the network's *[]byte buffers of maxDatagram+headerLen bytes
}

func (l loopback) open() (socket, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	return &udpSocket{conn: c, addr: c.LocalAddr().(*net.UDPAddr).AddrPort(), key: l.key, bufs: l.bufs}, nil
}

type udpSocket struct {
	conn *net.UDPConn
	addr netip.AddrPort // the real local address, on 127.0.0.1
	key  *secret        // the network's frame secret
	bufs *sync.Pool     // where send takes the buffer it encodes a frame into
}

func (s *udpSocket) send(to socket, f frame) error {
	dst, ok := to.(*udpSocket)
	if !ok {
		return fmt.Errorf("loopback carrier: cannot send to %T", to)
	}
	if !loopbackNet.Contains(dst.addr.Addr().Unmap()) {
		return fmt.Errorf("loopback carrier: write to %s: %w", dst.addr, errNotLoopback)
	}
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	_, err := s.conn.WriteToUDPAddrPort(f.encode(*bp, s.key), dst.addr)
	return err
}

// recv reads the next datagram into p and returns it as a frame with its real source,
// refused or not: the receiving Conn judges it. It allocates nothing.
func (s *udpSocket) recv(p []byte) (frame, error) {
	n, from, err := s.conn.ReadFromUDPAddrPort(p)
	if err != nil {
		return frame{}, err
	}
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	f := decodeFrame(p[:n], s.key)
	f.from = from
	if f.refused == 0 && !loopbackNet.Contains(from.Addr()) {
		f.refused = refusedNotLoopback
	}
	return f, nil
}

func (s *udpSocket) close() error                       { return s.conn.Close() }
func (s *udpSocket) setReadDeadline(t time.Time) error  { return s.conn.SetReadDeadline(t) }
func (s *udpSocket) setWriteDeadline(t time.Time) error { return s.conn.SetWriteDeadline(t) }
