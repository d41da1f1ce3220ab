package realproxy

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// A real proxy's container has no network of its own (Docker's "none"): this
// process gives its network namespace one interface, eth0, a TUN device whose
// other end is a file here, with the proxy's scenario address and a default
// route through it. Every IPv4 packet the proxy sends, to any address, comes out
// of that file, and what is written to it arrives at the proxy as from the wire.
// No address of the scenario ever exists on this host, and nothing the proxy sends
// can leave its namespace except through this process, into the run's fabric.
//
//	 container's network namespace        this process
//	┌──────────────────────────────┐
//	│ kamailio ── eth0 (TUN) ──────┼──── *os.File ── relay ── fabric (capture)
//	│   203.0.113.2/32, default    │
//	└──────────────────────────────┘

// openTUN creates eth0 in the network namespace of process pid, gives it addr
// and a default route, and returns its packet file.
func openTUN(pid int, addr netip.Addr) (*os.File, error) {
	type result struct {
		f   *os.File
		err error
	}
	done := make(chan result, 1)
	go func() {
		// The thread enters the proxy's namespace and never leaves it: the
		// goroutine ends locked, so the runtime discards the thread.
		runtime.LockOSThread()
		f, err := tunIn(pid)
		done <- result{f, err}
	}()
	r := <-done
	if r.err != nil {
		return nil, r.err
	}
	// The host's ip(8) in the proxy's namespace: the route last, since the
	// container's entrypoint starts the engine once the route is there.
	cmd := exec.Command("nsenter", fmt.Sprintf("--net=/proc/%d/ns/net", pid), "ip", "-batch", "-")
	cmd.Stdin = strings.NewReader(fmt.Sprintf("addr add %s/32 dev eth0\nlink set dev eth0 mtu 65535 up\nroute add default dev eth0\n", addr))
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = r.f.Close()
		return nil, fmt.Errorf("configure eth0 of the proxy's namespace: %w: %s", err, out)
	}
	return r.f, nil
}

// tunIn switches the calling (locked) thread into pid's network namespace and
// creates the TUN device eth0 there.
func tunIn(pid int) (*os.File, error) {
	ns, err := unix.Open(fmt.Sprintf("/proc/%d/ns/net", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open the proxy's network namespace: %w", err)
	}
	defer unix.Close(ns)
	if err := unix.Setns(ns, unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("enter the proxy's network namespace: %w", err)
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq("eth0")
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("create eth0 in the proxy's network namespace: %w", err)
	}
	return os.NewFile(uintptr(fd), "eth0"), nil
}

// udpPacket is an IPv4 packet carrying payload from src to dst over UDP (no UDP
// checksum, which IPv4 allows: RFC 768).
func udpPacket(src, dst netip.AddrPort, payload []byte) []byte {
	b := make([]byte, 28+len(payload))
	b[0] = 0x45 // version 4, 20-byte header
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	b[6] = 0x40 // don't fragment
	b[8] = 64   // TTL
	b[9] = unix.IPPROTO_UDP
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	copy(b[12:16], s4[:])
	copy(b[16:20], d4[:])
	binary.BigEndian.PutUint16(b[10:], ipChecksum(b[:20]))
	binary.BigEndian.PutUint16(b[20:], src.Port())
	binary.BigEndian.PutUint16(b[22:], dst.Port())
	binary.BigEndian.PutUint16(b[24:], uint16(8+len(payload)))
	copy(b[28:], payload)
	return b
}

// parseUDP reads an IPv4 UDP packet; ok is false for anything else (other
// protocols, IPv6, fragments).
func parseUDP(b []byte) (src, dst netip.AddrPort, payload []byte, ok bool) {
	if len(b) < 20 || b[0]>>4 != 4 {
		return src, dst, nil, false
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if ihl < 20 || total > len(b) || total < ihl+8 || b[9] != unix.IPPROTO_UDP || binary.BigEndian.Uint16(b[6:])&0x3fff != 0 {
		return src, dst, nil, false
	}
	u := b[ihl:total]
	n := int(binary.BigEndian.Uint16(u[4:]))
	if n < 8 || n > len(u) {
		return src, dst, nil, false
	}
	src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[12:16])), binary.BigEndian.Uint16(u[0:]))
	dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[16:20])), binary.BigEndian.Uint16(u[2:]))
	return src, dst, u[8:n], true
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
