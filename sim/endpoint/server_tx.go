package endpoint

import (
	"sync"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/sim"
)

// ServerTx is a server transaction (RFC 3261 §17.2). Respond sends a response
// towards the top Via; retransmitted requests get the last response again.
type ServerTx struct {
	ep  *Endpoint
	key string
	req *sip.Request

	mu    sync.Mutex // guards the fields below
	last  *sip.Response
	timer sim.Timer
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
	}
	tx.mu.Unlock()
	return tx.ep.Send(res, dst)
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
	if tx.timer != nil {
		tx.timer.Stop()
	}
	tx.mu.Unlock()
}

func (tx *ServerTx) remove() {
	tx.ep.mu.Lock()
	if tx.ep.servers[tx.key] == tx {
		delete(tx.ep.servers, tx.key)
	}
	tx.ep.mu.Unlock()
}
