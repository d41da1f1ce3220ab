package realproxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"

	"github.com/sipnatlab/sipnatlab/sim"
)

// relay stands in the fabric for one real proxy: what the fabric delivers to the
// proxy host's Conn it writes into the proxy's eth0 as a UDP packet from the
// sender's address, and what the proxy sends out of eth0 to any address it puts
// into the fabric from the proxy host's Conn. So the proxy sees every host at its
// scenario address, and the capture records every datagram to and from it like
// those of an in-process proxy. Before Attach, datagrams the proxy sends go nowhere
// (the first few are kept to explain a failed start); those to the readiness
// probe's address go to probe.
type relay struct {
	tun     *os.File
	addr    netip.AddrPort // the proxy's SIP address
	probe   netip.AddrPort // where readiness probes come from
	answers chan []byte    // what the proxy sent to probe

	mu     sync.Mutex // guards conn and strays
	conn   *sim.Conn  // the proxy host's Conn, once attached
	strays []string   // what the proxy sent before Attach (at most maxStrays)
	wg     sync.WaitGroup
}

const maxStrays = 5

func newRelay(tun *os.File, addr, probe netip.AddrPort) *relay {
	r := &relay{tun: tun, addr: addr, probe: probe, answers: make(chan []byte, 16)}
	r.wg.Add(1)
	go r.fromProxy()
	return r
}

// attach starts carrying datagrams between conn and the proxy.
func (r *relay) attach(conn *sim.Conn) {
	r.mu.Lock()
	r.conn = conn
	r.mu.Unlock()
	r.wg.Add(1)
	go r.fromFabric(conn)
}

// send writes payload into the proxy's eth0 as from src.
func (r *relay) send(src netip.AddrPort, payload []byte) error {
	_, err := r.tun.Write(udpPacket(src, r.addr, payload))
	return err
}

func (r *relay) fromFabric(conn *sim.Conn) {
	defer r.wg.Done()
	buf := make([]byte, 65535)
	for {
		n, src, err := conn.ReadFromAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if err := r.send(src, buf[:n]); err != nil && errors.Is(err, os.ErrClosed) {
			return
		}
	}
}

func (r *relay) fromProxy() {
	defer r.wg.Done()
	buf := make([]byte, 65535)
	for {
		n, err := r.tun.Read(buf)
		if err != nil {
			return // closed
		}
		src, dst, payload, ok := parseUDP(buf[:n])
		if !ok {
			continue // not IPv4 UDP: nothing of SIP over UDP
		}
		if dst.Port() == 53 {
			// No name server lives in the proxy's world: say at once that the name
			// does not exist, rather than let the engine wait for an answer.
			if resp := nxdomain(payload); resp != nil {
				_, _ = r.tun.Write(udpPacket(dst, src, resp))
			}
			continue
		}
		if dst == r.probe {
			select {
			case r.answers <- append([]byte(nil), payload...):
			default:
			}
			continue
		}
		r.mu.Lock()
		conn := r.conn
		if conn == nil && len(r.strays) < maxStrays {
			r.strays = append(r.strays, fmt.Sprintf("%q from %s to %s", firstLine(payload), src, dst))
		}
		r.mu.Unlock()
		if conn != nil {
			_, _ = conn.WriteToAddrPort(payload, dst)
		}
	}
}

// sentBeforeAttach is what the proxy sent before the run began.
func (r *relay) sentBeforeAttach() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.strays...)
}

// close stops the relay and waits for its goroutines; it closes the attached Conn.
func (r *relay) close() {
	_ = r.tun.Close()
	r.mu.Lock()
	conn := r.conn
	r.mu.Unlock()
	if conn != nil {
		_ = conn.Close()
	}
	r.wg.Wait()
}

func firstLine(b []byte) string {
	for i, c := range b {
		if c == '\r' || c == '\n' {
			return string(b[:i])
		}
	}
	if len(b) > 80 {
		b = b[:80]
	}
	return string(b)
}

// nxdomain is the DNS answer "no such name" (RFC 1035 §4.1.1, RCODE 3) to query,
// with its question; nil when query is no DNS query.
func nxdomain(query []byte) []byte {
	if len(query) < 12 || query[2]&0x80 != 0 || binary.BigEndian.Uint16(query[4:]) != 1 {
		return nil
	}
	i := 12
	for i < len(query) && query[i] != 0 {
		i += int(query[i]) + 1
	}
	i += 5 // the root label, QTYPE, QCLASS
	if i > len(query) {
		return nil
	}
	resp := append([]byte(nil), query[:i]...)
	resp[2] = 0x80 | query[2]&0x79 // QR, the query's opcode and RD
	resp[3] = 0x80 | 3             // RA, NXDOMAIN
	clear(resp[6:12])              // no answer, authority or additional records
	return resp
}
