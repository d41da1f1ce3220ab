package trace

import "github.com/emiago/sipgo/sip"

// CallID returns m's Call-ID, or "".
func CallID(m sip.Message) string {
	if m == nil {
		return ""
	}
	if c := m.CallID(); c != nil {
		return c.Value()
	}
	return ""
}

// Invite2xx returns m as a response when it is a 2xx to an INVITE.
func Invite2xx(m sip.Message) (*sip.Response, bool) {
	r, ok := m.(*sip.Response)
	if !ok || !r.IsSuccess() || r.CSeq() == nil || r.CSeq().MethodName != sip.INVITE {
		return nil, false
	}
	return r, true
}

// IsRequest reports whether m is a request with the method.
func IsRequest(m sip.Message, method sip.RequestMethod) bool {
	r, ok := m.(*sip.Request)
	return ok && r.Method == method
}

// ToTag returns the tag parameter of m's To header, or "".
func ToTag(m sip.Message) string {
	if m == nil {
		return ""
	}
	if to := m.To(); to != nil {
		t, _ := to.Params.Get("tag")
		return t
	}
	return ""
}

// Contact returns the URI of m's first Contact header, or "".
func Contact(m sip.Message) string {
	var c *sip.ContactHeader
	switch v := m.(type) {
	case *sip.Request:
		c = v.Contact()
	case *sip.Response:
		c = v.Contact()
	}
	if c == nil {
		return ""
	}
	return c.Address.String()
}
