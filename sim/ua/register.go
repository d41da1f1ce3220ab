package ua

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipnatlab/sipnatlab/sim/endpoint"
)

// ErrRegisterTimeout is wrapped by the outcome of a REGISTER that got no final
// response within 64*T1 (Timer F); the UA then registers again after T2.
var ErrRegisterTimeout = errors.New("no response (timeout)")

// Register sends REGISTER to the registrar through whatever NAT is in front
// of the UA and waits for the final response. A successful registration is
// refreshed at half its granted lifetime until Close.
func (u *UA) Register(ctx context.Context) error {
	if !u.cfg.Registrar.IsValid() {
		return fmt.Errorf("ua %s: no registrar configured", u.cfg.Name)
	}
	result := make(chan error, 1)
	if err := u.StartRegister(func(err error) { result <- err }); err != nil {
		return err
	}
	select {
	case err := <-result:
		return err
	case <-ctx.Done():
		return fmt.Errorf("ua %s: register: %w", u.cfg.Name, ctx.Err())
	}
}

// StartRegister sends REGISTER without waiting; done is called once with the
// outcome (nil on 2xx), from the goroutine that handles responses.
func (u *UA) StartRegister(done func(error)) error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return fmt.Errorf("ua %s: closed", u.cfg.Name)
	}
	u.regSeq++
	seq := u.regSeq
	u.mu.Unlock()
	reg := u.cfg.Registrar
	target := sip.Uri{Scheme: "sip", Host: reg.Addr().String()}
	if reg.Port() != endpoint.DefaultPort {
		target.Port = int(reg.Port())
	}
	aor := u.AOR()
	req := u.newRequest(sip.REGISTER, target, u.regCallID, seq, aor, aor, "r"+u.regCallID[:8], "")
	req.AppendHeader(u.contactHeader())
	exp := sip.ExpiresHeader(uint32(u.cfg.RegisterExpires / time.Second))
	req.AppendHeader(&exp)
	req.SetBody(nil)
	_, err := u.ep.Request(req, reg, func(res *sip.Response) {
		switch {
		case res == nil:
			// A phone whose REGISTER got no answer tries again, for as long as it runs.
			u.mu.Lock()
			if !u.closed {
				if u.regTimer != nil {
					u.regTimer.Stop()
				}
				u.regTimer = u.ep.AfterFunc(u.ep.Timers().T2, func() { _ = u.StartRegister(func(error) {}) })
			}
			u.mu.Unlock()
			u.emit(RegisterFailed, u.regCallID, "no response from %s; registering again in %s", reg, u.ep.Timers().T2)
			done(fmt.Errorf("ua %s: register with %s: %w", u.cfg.Name, reg, ErrRegisterTimeout))
		case res.StatusCode < 200:
		case res.IsSuccess():
			granted := u.cfg.RegisterExpires
			if c := res.Contact(); c != nil {
				if v, ok := c.Params.Get("expires"); ok {
					if s, err := strconv.Atoi(v); err == nil && s > 0 {
						granted = time.Duration(s) * time.Second
					}
				}
			}
			u.mu.Lock()
			u.registered = true
			if !u.closed {
				if u.regTimer != nil {
					u.regTimer.Stop()
				}
				u.regTimer = u.ep.AfterFunc(granted/2, func() { _ = u.StartRegister(func(error) {}) })
				if u.cfg.KeepAlive != NoKeepAlive && u.kaTimer == nil {
					u.kaTimer = u.ep.AfterFunc(u.cfg.KeepAliveInterval, u.keepAlive)
				}
			}
			u.mu.Unlock()
			u.emit(Registered, u.regCallID, "registered %s at %s for %s", u.contactString(), reg, granted)
			done(nil)
		default:
			u.emit(RegisterFailed, u.regCallID, "%d %s", res.StatusCode, res.Reason)
			done(fmt.Errorf("ua %s: register with %s: %d %s", u.cfg.Name, reg, res.StatusCode, res.Reason))
		}
	})
	return err
}

// keepAlive sends one keep-alive to the registrar over the flow REGISTER opened and
// schedules the next one.
func (u *UA) keepAlive() {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return
	}
	u.kaTimer = u.ep.AfterFunc(u.cfg.KeepAliveInterval, u.keepAlive)
	u.kaSeq++
	seq := u.kaSeq
	u.mu.Unlock()
	reg := u.cfg.Registrar
	if u.cfg.KeepAlive == KeepAliveCRLF {
		_ = u.ep.SendKeepAlive(reg)
		u.emit(KeepAliveSent, "", "CRLF keep-alive to %s", reg)
		return
	}
	target := sip.Uri{Scheme: "sip", Host: reg.Addr().String()}
	if reg.Port() != endpoint.DefaultPort {
		target.Port = int(reg.Port())
	}
	aor := u.AOR()
	callID := "ka-" + u.regCallID
	req := u.newRequest(sip.OPTIONS, target, callID, seq, aor, target, "k"+u.regCallID[:8], "")
	req.SetBody(nil)
	_, err := u.ep.Request(req, reg, func(res *sip.Response) {
		if res == nil {
			u.emit(KeepAliveFailed, callID, "OPTIONS keep-alive to %s got no response", reg)
		}
	})
	if err == nil {
		u.emit(KeepAliveSent, callID, "OPTIONS keep-alive to %s", reg)
	}
}
