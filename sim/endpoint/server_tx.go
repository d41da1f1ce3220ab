package endpoint

import (
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/sim"
)

// ServerTx is a server transaction (RFC 3261 §17.2). Respond sends a response
// towards the top Via; retransmitted requests get the last response again. An INVITE
// transaction whose final response is a non-2xx retransmits it itself until the ACK
// comes (Timer G, §17.2.1).
type ServerTx struct {
	ep  *Endpoint
	key string
	req *sip.Request

	mu     sync.Mutex // guards the fields below
	last   *sip.Response
	timer  sim.Timer     // the transaction's removal (Timers H and J)
	g      sim.Timer     // Timer G while the non-2xx final to an INVITE waits for its ACK
	gNext  time.Duration // Timer G's next interval: T1, doubling up to T2
	acked  bool          // the ACK for a non-2xx final to INVITE came (state Confirmed)
	ending bool          // the transaction was removed or the endpoint closed: no more sends
}

// Request is the request that created the transaction.
func (tx *ServerTx) Request() *sip.Request { return tx.req }

// Respond sends res towards its top Via. A final response schedules the
// transaction's removal after 64*T1 (Timers H/J, simplified); retransmitted
// 2xx for INVITE are the UA core's job (RFC 3261 §13.3.1.4) and go out
// through Respond too.
func (tx *ServerTx) Respond(res *sip.Response) error {
	dst, err := ResponseTarget(res)
	if err != nil {
		return err
	}
	tx.mu.Lock()
	tx.last = res
	if res.StatusCode >= 200 && tx.timer == nil {
		tx.timer = tx.ep.AfterFunc(tx.ep.timers.TransactionTimeout(), tx.remove)
		if res.StatusCode >= 300 && tx.req.IsInvite() {
			tx.gNext = tx.ep.timers.T1
			tx.g = tx.ep.AfterFunc(tx.gNext, tx.timerG)
		}
	}
	tx.mu.Unlock()
	return tx.ep.Send(res, dst)
}

// timerG retransmits the non-2xx final response to an INVITE whose ACK has not come,
// at T1, 2*T1, … capped at T2 (RFC 3261 §17.2.1), until the ACK or Timer H (64*T1).
func (tx *ServerTx) timerG() {
	tx.mu.Lock()
	if tx.acked || tx.ending {
		tx.mu.Unlock()
		return
	}
	last := tx.last
	tx.gNext = min(2*tx.gNext, tx.ep.timers.T2)
	tx.g = tx.ep.AfterFunc(tx.gNext, tx.timerG)
	tx.mu.Unlock()
	if dst, err := ResponseTarget(last); err == nil {
		_ = tx.ep.Send(last, dst)
	}
}

// ack notes the ACK for a non-2xx final response (state Confirmed): Timer G stops.
func (tx *ServerTx) ack() {
	tx.mu.Lock()
	tx.acked = true
	g := tx.g
	tx.mu.Unlock()
	if g != nil {
		g.Stop()
	}
}

func (tx *ServerTx) retransmission() {
	tx.mu.Lock()
	last := tx.last
	tx.mu.Unlock()
	if last == nil || (last.IsSuccess() && tx.req.IsInvite()) {
		// A 2xx is retransmitted by the UA core on its own schedule.
		return
	}
	if dst, err := ResponseTarget(last); err == nil {
		_ = tx.ep.Send(last, dst)
	}
}

func (tx *ServerTx) stopTimer() {
	tx.mu.Lock()
	tx.ending = true
	if tx.timer != nil {
		tx.timer.Stop()
	}
	if tx.g != nil {
		tx.g.Stop()
	}
	tx.mu.Unlock()
}

func (tx *ServerTx) remove() {
	tx.mu.Lock()
	tx.ending = true
	if tx.g != nil {
		tx.g.Stop()
	}
	tx.mu.Unlock()
	tx.ep.mu.Lock()
	if tx.ep.servers[tx.key] == tx {
		delete(tx.ep.servers, tx.key)
	}
	tx.ep.mu.Unlock()
}
