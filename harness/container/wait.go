package container

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/testcontainers/testcontainers-go/wait"
)

// SIPOptionsStrategy waits until a SIP proxy in the container answers an
// OPTIONS request sent over UDP from the host to the container's address on
// one Docker network. Nothing is sent anywhere else: the destination is read
// from the container's own endpoint on that network.
type SIPOptionsStrategy struct {
	network      string
	port         int
	timeout      time.Duration
	pollInterval time.Duration
}

var (
	_ wait.Strategy        = (*SIPOptionsStrategy)(nil)
	_ wait.StrategyTimeout = (*SIPOptionsStrategy)(nil)
)

// ForSIPOptions waits for an answer on port 5060 of the container's address
// on network, polling every 200 ms for at most 60 s.
func ForSIPOptions(network string) *SIPOptionsStrategy {
	return &SIPOptionsStrategy{network: network, port: SIPPort, timeout: 60 * time.Second, pollInterval: 200 * time.Millisecond}
}

// WithPort sets the container's SIP port.
func (s *SIPOptionsStrategy) WithPort(port int) *SIPOptionsStrategy { s.port = port; return s }

// WithStartupTimeout bounds the whole wait.
func (s *SIPOptionsStrategy) WithStartupTimeout(d time.Duration) *SIPOptionsStrategy {
	s.timeout = d
	return s
}

// WithPollInterval sets how long one OPTIONS waits for its answer before
// the next is sent.
func (s *SIPOptionsStrategy) WithPollInterval(d time.Duration) *SIPOptionsStrategy {
	s.pollInterval = d
	return s
}

// Timeout implements wait.StrategyTimeout.
func (s *SIPOptionsStrategy) Timeout() *time.Duration { return &s.timeout }

// WaitUntilReady implements wait.Strategy. It fails at once when the
// container stops (a config error, typically) rather than at the timeout.
func (s *SIPOptionsStrategy) WaitUntilReady(ctx context.Context, target wait.StrategyTarget) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var last error
	for {
		info, err := target.Inspect(ctx)
		if err != nil {
			return fmt.Errorf("wait for SIP OPTIONS: %w", err)
		}
		if st := info.State; st != nil && !st.Running {
			return fmt.Errorf("wait for SIP OPTIONS: container is %s (exit code %d)", st.Status, st.ExitCode)
		}
		if ep, ok := info.NetworkSettings.Networks[s.network]; ok && ep.IPAddress.IsValid() {
			pctx, pcancel := context.WithTimeout(ctx, s.pollInterval)
			_, err := SendOptions(pctx, netip.AddrPortFrom(ep.IPAddress, uint16(s.port)))
			pcancel()
			if err == nil {
				return nil
			}
			last = err
		} else {
			last = fmt.Errorf("no address on network %s yet", s.network)
			select {
			case <-ctx.Done():
			case <-time.After(s.pollInterval):
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("wait for SIP OPTIONS: no answer within %s: %w", s.timeout, last)
		}
	}
}

// SendOptions sends one SIP OPTIONS over UDP to dst and returns the status
// code of the first response to it, or an error when ctx ends first. The
// request names dst itself (sip:ADDR:PORT), as a health check does.
func SendOptions(ctx context.Context, dst netip.AddrPort) (int, error) {
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
	if err != nil {
		return 0, fmt.Errorf("options %s: %w", dst, err)
	}
	defer conn.Close()
	local := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	callID := randomHex(8) + "@sipnatlab"
	req := OptionsRequest(local, dst, callID, 1)
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if _, err := conn.Write(req); err != nil {
		return 0, fmt.Errorf("options %s: %w", dst, err)
	}
	buf := make([]byte, 65535)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			if ctx.Err() != nil {
				err = errors.Join(err, ctx.Err())
			}
			return 0, fmt.Errorf("options %s: %w", dst, err)
		}
		msg, err := sip.ParseMessage(buf[:n])
		if err != nil {
			continue
		}
		res, ok := msg.(*sip.Response)
		if !ok {
			continue
		}
		if id := res.CallID(); id == nil || id.Value() != callID {
			continue
		}
		if res.StatusCode < 200 {
			continue // provisional; wait for the final answer
		}
		return int(res.StatusCode), nil
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// OptionsRequest is a health-check OPTIONS from from to to itself (sip:ADDR:PORT),
// with Call-ID callID and CSeq cseq.
func OptionsRequest(from, to netip.AddrPort, callID string, cseq int) []byte {
	return []byte(strings.Join([]string{
		fmt.Sprintf("OPTIONS sip:%s SIP/2.0", to),
		fmt.Sprintf("Via: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport", from, randomHex(8)),
		"Max-Forwards: 70",
		fmt.Sprintf("From: <sip:probe@%s>;tag=%s", from, randomHex(4)),
		fmt.Sprintf("To: <sip:%s>", to),
		"Call-ID: " + callID,
		fmt.Sprintf("CSeq: %d OPTIONS", cseq),
		fmt.Sprintf("Contact: <sip:probe@%s>", from),
		"User-Agent: sipnatlab-probe",
		"Content-Length: 0",
		"", "",
	}, "\r\n"))
}
