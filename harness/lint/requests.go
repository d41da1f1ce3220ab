package lint

import "fmt"

// This file holds the rules about requests from phones behind NAT: replies
// sent to the port the NAT mapped (force_rport) and registrations stored where
// the phone can be reached (fix_nated_register, received).

// registerFixers make a registrar store where a NATed contact can really be
// reached: the REGISTER's source address as "received" (fix_nated_register,
// add_rcv_param, add_path_received), or a Contact rewritten or aliased to it.
var registerFixers = map[string]bool{
	"fix_nated_register": true,
	"add_rcv_param":      true,
	"add_path_received":  true,
	"fix_nated_contact":  true,
	"set_contact_alias":  true,
	"add_contact_alias":  true,
}

// requestCalls are the function calls reached from the blocks the proxy runs
// for requests, in the order walk finds them.
func (s *script) requestCalls() []call {
	var out []call
	for _, b := range s.blocks {
		if !isEntry(b) || isReply(b) || b.kind == "failure_route" || b.kind == "branch_route" {
			continue
		}
		s.walk(b, b.body, unguarded, map[string]bool{}, func(st site) { out = append(out, st.call) })
	}
	return out
}

// requestRoute is the block the proxy runs first for a request: request_route,
// or route / route[0]; nil when there is none.
func (s *script) requestRoute() *block {
	for _, b := range s.blocks {
		if b.kind == "request_route" || (b.kind == "route" && (b.name == "" || b.name == "0")) {
			return b
		}
	}
	return nil
}

// checkRequests flags a script that serves phones behind NAT (it handles NAT,
// natName at natLine, or it is a registrar) without force_rport(), and a
// registrar's save() with nothing that stores the REGISTER's source address.
func (s *script) checkRequests(globals []token, natLine int, natName string) []Finding {
	calls := s.requestCalls()
	var saves []call
	rport, fixed := globalOn(globals, "force_rport"), false
	for _, c := range calls {
		switch {
		case c.name == "force_rport":
			rport = true
		case registerFixers[c.name]:
			fixed = true
		case c.name == "save":
			saves = append(saves, c)
		}
	}
	var out []Finding
	if rb := s.requestRoute(); !rport && rb != nil && (natLine != 0 || len(saves) > 0) {
		why := fmt.Sprintf("NAT is handled on requests (%s at line %d)", natName, natLine)
		if natLine == 0 {
			why = fmt.Sprintf("the script is a registrar (save() at line %d)", saves[0].line)
		}
		out = append(out, Finding{
			File: s.file, Line: rb.line, Rule: MissingForceRport,
			Message: fmt.Sprintf("%s but no request route calls force_rport(): a phone behind NAT whose Via "+
				"asks for no rport is answered at its Via's port, not the port its NAT mapped (RFC 3581 §4), "+
				"and the NAT drops the reply: the REGISTER's 200 OK never arrives, the phone re-registers "+
				"for ever and calls to it fail; call force_rport(); at the top of %s (line %d)", why, blockName(rb), rb.line),
		})
	}
	if !fixed {
		for _, c := range saves {
			out = append(out, Finding{
				File: s.file, Line: c.line, Rule: UnfixedRegister,
				Message: "save() stores the Contact of a REGISTER as written, and nothing in the request routes " +
					"stores where a phone behind NAT can really be reached: its private Contact is saved, and " +
					"the INVITE for it goes to an address nobody outside its LAN reaches (the caller gets 408 " +
					"or 480); call fix_nated_register() before save() for NATed REGISTERs, with " +
					`modparam("registrar", "received_avp", ...) and modparam("nathelper", "received_avp", ...) ` +
					"naming the same AVP (or add_rcv_param())",
			})
		}
	}
	return out
}

// globalOn reports whether globals set the core parameter name to yes, on or 1
// (Kamailio's force_rport=yes).
func globalOn(globals []token, name string) bool {
	for i, t := range globals {
		if t.str || t.text != name || i+2 >= len(globals) || globals[i+1].text != "=" {
			continue
		}
		switch globals[i+2].text {
		case "yes", "on", "1", "true":
			return true
		}
	}
	return false
}
