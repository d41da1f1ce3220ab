package ua

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/sim/endpoint"
)

// Call places a call to target through the outbound proxy (zero: straight
// to the target), talks for talk after the 2xx, then hangs up. It returns the
// Call-ID once the caller's side of the call has ended: its BYE was answered
// or timed out, or the callee hung up first.
func (u *UA) Call(ctx context.Context, target sip.Uri, outbound netip.AddrPort, talk time.Duration) (string, error) {
	callID, done, err := u.Dial(target, outbound, talk)
	if err != nil {
		return callID, err
	}
	select {
	case <-done:
	case <-ctx.Done():
		return callID, fmt.Errorf("ua %s: call %s: %w", u.cfg.Name, callID, ctx.Err())
	}
	if !u.Established(callID) {
		return callID, ErrCallFailed
	}
	return callID, nil
}

// Established reports whether the call got a 2xx.
func (u *UA) Established(callID string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if d, ok := u.dialogs[callID]; ok {
		return d.established
	}
	return u.ended[callID].flags&endedEstablished != 0
}

// Dial places a call like Call without waiting: it returns the Call-ID and a
// channel closed when the caller's side of the call has ended.
func (u *UA) Dial(target sip.Uri, outbound netip.AddrPort, talk time.Duration) (string, <-chan struct{}, error) {
	callID := u.ep.IDs().CallID()
	d := &dialog{
		callID:    callID,
		caller:    true,
		localTag:  u.ep.IDs().Tag(),
		localURI:  u.AOR(),
		remoteURI: target,
		cseq:      1,
		done:      make(chan struct{}),
	}
	req := u.newRequest(sip.INVITE, target, callID, 1, d.localURI, target, d.localTag, "")
	dst := outbound
	if outbound.IsValid() {
		r := sip.Uri{Scheme: "sip", Host: outbound.Addr().String(), Port: int(outbound.Port()), UriParams: sip.NewParams()}
		r.UriParams.Add("lr", "")
		req.AppendHeader(&sip.RouteHeader{Address: r})
	} else {
		var err error
		if dst, err = endpoint.URIAddr(target); err != nil {
			return callID, nil, fmt.Errorf("ua %s: call %s: %w", u.cfg.Name, target.String(), err)
		}
	}
	req.AppendHeader(u.contactHeader())
	ct := sip.ContentTypeHeader("application/sdp")
	req.AppendHeader(&ct)
	req.SetBody(u.sdp())

	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return callID, nil, fmt.Errorf("ua %s: closed", u.cfg.Name)
	}
	u.dialogs[callID] = d
	u.mu.Unlock()

	u.emit(InviteSent, callID, "INVITE %s via %s", target.String(), dst)
	// The INVITE transaction lingers 64*T1 after a 2xx (Timer M): its callback holds the
	// Call-ID, not the dialog, so an ended call's dialog is not kept that long.
	_, err := u.ep.Request(req, dst, func(res *sip.Response) { u.onInviteResponse(callID, talk, res) })
	if err != nil {
		u.endDialog(d, CallFailed, "INVITE not sent: %v", err)
		return callID, nil, err
	}
	return callID, d.done, nil
}

// onInviteResponse handles a response to the INVITE of call callID; once the dialog has
// ended (it is no longer live) there is nothing left to do with it.
func (u *UA) onInviteResponse(callID string, talk time.Duration, res *sip.Response) {
	u.mu.Lock()
	d, live := u.dialogs[callID]
	u.mu.Unlock()
	if !live {
		return
	}
	switch {
	case res == nil:
		u.endDialog(d, CallFailed, "no final response to INVITE (Timer B)")
	case res.StatusCode < 200:
	case res.IsSuccess():
		u.on2xx(d, talk, res)
	default:
		// The INVITE transaction has ACKed the non-2xx (RFC 3261 §17.1.1.3).
		u.endDialog(d, CallFailed, "INVITE answered %d %s", res.StatusCode, res.Reason)
	}
}

// on2xx establishes the dialog from the first 2xx (RFC 3261 §12.1.2) and
// sends the ACK, and re-sends the same ACK for every retransmitted 2xx
// (§13.2.2.4).
func (u *UA) on2xx(d *dialog, talk time.Duration, res *sip.Response) {
	u.mu.Lock()
	if d.ended {
		u.mu.Unlock()
		return
	}
	if d.established {
		ack, dst := d.ack, d.ackDst
		u.mu.Unlock()
		if ack != nil {
			_ = u.ep.Send(ack, dst)
			u.emit(ACKSent, d.callID, "ACK %s re-sent to %s for a retransmitted 2xx", ack.Recipient.String(), dst)
		}
		return
	}
	d.established = true
	d.remoteTag, _ = res.To().Params.Get("tag")
	if c := res.Contact(); c != nil {
		d.remoteTarget = *c.Address.Clone()
	} else {
		d.remoteTarget = d.remoteURI
	}
	rr := res.GetHeaders("Record-Route")
	d.routeSet = nil
	for i := len(rr) - 1; i >= 0; i-- {
		d.routeSet = append(d.routeSet, *rr[i].(*sip.RecordRouteHeader).Address.Clone())
	}
	ack := u.inDialogRequest(d, sip.ACK, 1)
	dst, err := u.nextHop(d)
	d.ack, d.ackDst = ack, dst
	if !d.ended {
		d.talkTimer = u.ep.AfterFunc(talk, func() { u.hangUp(d) })
	}
	u.mu.Unlock()
	contact := ""
	if c := res.Contact(); c != nil {
		contact = c.Address.String()
	}
	u.emit(OKReceived, d.callID, "200 OK with Contact %s", contact)
	if err != nil {
		u.emit(ACKSent, d.callID, "ACK cannot be sent: %v", err)
		return
	}
	_ = u.ep.Send(ack, dst)
	u.emit(ACKSent, d.callID, "ACK %s to %s", ack.Recipient.String(), dst)
}
