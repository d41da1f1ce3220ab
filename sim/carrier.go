package sim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
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
// virtual source as the receiver must see it, plus the payload.
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
}

// The loopback frame header: magic, datagram id, virtual source IPv4 address and port.
const (
	frameMagic  = "SNL1"
	headerLen   = len(frameMagic) + 8 + 4 + 2
	maxDatagram = 65535
)

func (f frame) encode() []byte {
	b := make([]byte, headerLen, headerLen+len(f.data))
	copy(b, frameMagic)
	binary.BigEndian.PutUint64(b[4:], uint64(f.id))
	a := f.src.Addr().As4()
	copy(b[12:], a[:])
	binary.BigEndian.PutUint16(b[16:], f.src.Port())
	return append(b, f.data...)
}

func decodeFrame(b []byte) (frame, bool) {
	if len(b) < headerLen || string(b[:4]) != frameMagic {
		return frame{}, false
	}
	return frame{
		id:   int(binary.BigEndian.Uint64(b[4:])),
		src:  netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[12:16])), binary.BigEndian.Uint16(b[16:])),
		data: b[headerLen:],
	}, true
}

// loopbackNet is the only network the loopback carrier ever writes to.
var loopbackNet = netip.MustParsePrefix("127.0.0.0/8")

// errNotLoopback is returned, and nothing is written, if a loopback socket is asked to
// write to an address outside 127.0.0.0/8.
var errNotLoopback = errors.New("refusing to write outside 127.0.0.0/8")

// loopback is the default carrier: one real UDP socket on 127.0.0.1 per virtual endpoint,
// so datagrams really cross the kernel's loopback interface.
type loopback struct{}

func (loopback) open() (socket, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	return &udpSocket{conn: c, addr: c.LocalAddr().(*net.UDPAddr).AddrPort()}, nil
}

type udpSocket struct {
	conn *net.UDPConn
	addr netip.AddrPort // the real local address, on 127.0.0.1
}

func (s *udpSocket) send(to socket, f frame) error {
	dst, ok := to.(*udpSocket)
	if !ok {
		return fmt.Errorf("loopback carrier: cannot send to %T", to)
	}
	if !loopbackNet.Contains(dst.addr.Addr().Unmap()) {
		return fmt.Errorf("loopback carrier: write to %s: %w", dst.addr, errNotLoopback)
	}
	_, err := s.conn.WriteToUDPAddrPort(f.encode(), dst.addr)
	return err
}

func (s *udpSocket) recv(p []byte) (frame, error) {
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(p)
		if err != nil {
			return frame{}, err
		}
		if !loopbackNet.Contains(from.Addr().Unmap()) {
			continue
		}
		if f, ok := decodeFrame(p[:n]); ok {
			return f, nil
		}
	}
}

func (s *udpSocket) close() error                       { return s.conn.Close() }
func (s *udpSocket) setReadDeadline(t time.Time) error  { return s.conn.SetReadDeadline(t) }
func (s *udpSocket) setWriteDeadline(t time.Time) error { return s.conn.SetWriteDeadline(t) }
