package endpoint

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/sim"
)

// ClientTx is a client transaction (RFC 3261 §17.1): it retransmits its
// request over UDP (Timer A or E) until a response arrives and reports a
// timeout (Timer B or F) as a nil response.
//
// Once it has its final response the transaction lingers (Timers D, K and M) without
// its request: a run holds thousands of them.
type ClientTx struct {
	ep     *Endpoint
	key    string
	invite bool // req is an INVITE
	dst    netip.AddrPort

	mu       sync.Mutex              // guards the fields below
	onResp   func(res *sip.Response) // nil res: timeout; nil once no response can reach it (non-INVITE final)
	req      *sip.Request            // nil once the final response came
	interval time.Duration
	retrans  sim.Timer
	timeout  sim.Timer
	gotResp  bool
	final    bool
	ack      *sip.Request // the ACK for a non-2xx final response to INVITE
	ended    bool
}

// Request starts a client transaction for req (which must carry its own top
// Via with a branch) sent to dst. onResp is called for each response that
// matches (for INVITE, every 2xx retransmission too, for 64*T1 after the
// first, as RFC 6026 Accepted state) and once with nil on timeout. After
// Close it returns an error for which errors.Is(err, net.ErrClosed) holds.
func (e *Endpoint) Request(req *sip.Request, dst netip.AddrPort, onResp func(res *sip.Response)) (*ClientTx, error) {
	via := req.Via()
	if via == nil {
		return nil, errors.New("request has no Via")
	}
	tx := &ClientTx{ep: e, key: txKey(via, req.Method), invite: req.IsInvite(), req: req, dst: dst, onResp: onResp, interval: e.timers.T1}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, net.ErrClosed
	}
	e.clients[tx.key] = tx
	e.mu.Unlock()
	tx.mu.Lock()
	tx.retrans = e.AfterFunc(tx.interval, tx.retransmit)               // Timer A or E
	tx.timeout = e.AfterFunc(e.timers.TransactionTimeout(), tx.expire) // Timer B or F
	tx.mu.Unlock()
	if err := e.Send(req, dst); err != nil {
		tx.terminate()
		return nil, err
	}
	return tx, nil
}

func (tx *ClientTx) retransmit() {
	tx.mu.Lock()
	if tx.ended || tx.final || (tx.gotResp && tx.invite) {
		tx.mu.Unlock()
		return
	}
	if tx.invite {
		tx.interval *= 2 // Timer A doubles without cap (RFC 3261 §17.1.1.2)
	} else if tx.gotResp {
		tx.interval = tx.ep.timers.T2 // §17.1.2.2: after a provisional, every T2
	} else {
		tx.interval = min(2*tx.interval, tx.ep.timers.T2) // Timer E
	}
	tx.retrans = tx.ep.AfterFunc(tx.interval, tx.retransmit)
	req := tx.req
	tx.mu.Unlock()
	_ = tx.ep.Send(req, tx.dst)
}

func (tx *ClientTx) expire() {
	tx.mu.Lock()
	final, onResp := tx.final, tx.onResp
	tx.mu.Unlock()
	tx.terminate()
	if !final {
		onResp(nil)
	}
}

// receive handles a response; it reports false once the transaction has ended.
func (tx *ClientTx) receive(res *sip.Response) bool {
	tx.mu.Lock()
	if tx.ended {
		tx.mu.Unlock()
		return false
	}
	if tx.final && !(tx.invite && res.IsSuccess()) {
		// Retransmitted final response: absorbed; for a non-2xx to INVITE
		// the ACK goes again (RFC 3261 §17.1.1.2, Completed state).
		ack := tx.ack
		tx.mu.Unlock()
		if ack != nil {
			_ = tx.ep.Send(ack, tx.dst)
		}
		return true
	}
	tx.gotResp = true
	if res.StatusCode < 200 && tx.invite && tx.timeout != nil && !tx.final {
		// Proceeding: Timer B no longer applies (RFC 3261 §17.1.1.2); the
		// final response or the next hop's own timeout ends the transaction.
		tx.timeout.Stop()
		tx.timeout = nil
	}
	if res.StatusCode >= 200 && !tx.final {
		tx.final = true
		if tx.retrans != nil {
			tx.retrans.Stop()
		}
		if tx.timeout != nil {
			tx.timeout.Stop()
		}
		t := tx.ep.timers
		var linger time.Duration
		switch {
		case !tx.invite:
			// Completed: Timer K absorbs retransmitted finals for T4 (§17.1.2.2).
			linger = t.T4
		case res.IsSuccess():
			// RFC 6026 §7.2 Accepted: Timer M passes 2xx retransmissions up for 64*T1.
			linger = t.TransactionTimeout()
		default:
			// Completed: Timer D, at least 32 s over UDP (§17.1.1.2, Table 4), and no
			// shorter than the server's Timer H (64*T1), re-ACKing each retransmission.
			linger = max(32*time.Second, t.TransactionTimeout())
			tx.ack = nonSuccessACK(tx.req, res)
			ack := tx.ack
			defer func() { _ = tx.ep.Send(ack, tx.dst) }()
		}
		tx.req = nil
		tx.timeout = nil
		tx.ep.lingerFor(linger).add(tx)
	}
	onResp := tx.onResp
	if tx.final && !tx.invite {
		// No response reaches the TU after a non-INVITE's final one: the callback,
		// and whatever it holds, need not linger through Timer K.
		tx.onResp = nil
	}
	tx.mu.Unlock()
	onResp(res)
	return true
}

// nonSuccessACK is the ACK the INVITE client transaction sends for a non-2xx
// final response, hop by hop (RFC 3261 §17.1.1.3): the INVITE's
// Request-URI, top Via, Route, From, Call-ID and CSeq number, the
// response's To.
func nonSuccessACK(invite *sip.Request, res *sip.Response) *sip.Request {
	ack := sip.NewRequest(sip.ACK, invite.Recipient)
	ack.AppendHeader(invite.Via().Clone())
	for _, h := range invite.GetHeaders("Route") {
		ack.AppendHeader(sip.HeaderClone(h))
	}
	mf := sip.MaxForwardsHeader(70)
	ack.AppendHeader(&mf)
	ack.AppendHeader(sip.HeaderClone(invite.From()))
	if to := res.To(); to != nil {
		ack.AppendHeader(sip.HeaderClone(to))
	}
	ack.AppendHeader(sip.HeaderClone(invite.CallID()))
	ack.AppendHeader(&sip.CSeqHeader{SeqNo: invite.CSeq().SeqNo, MethodName: sip.ACK})
	ack.SetBody(nil)
	return ack
}

func (tx *ClientTx) stopTimers() {
	tx.mu.Lock()
	if tx.retrans != nil {
		tx.retrans.Stop()
	}
	if tx.timeout != nil {
		tx.timeout.Stop()
	}
	tx.ended = true
	tx.mu.Unlock()
}

func (tx *ClientTx) terminate() {
	tx.stopTimers()
	tx.ep.mu.Lock()
	if tx.ep.clients[tx.key] == tx {
		delete(tx.ep.clients, tx.key)
	}
	tx.ep.mu.Unlock()
}
