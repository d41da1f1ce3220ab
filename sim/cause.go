package sim

// Cause says, for programs, why a datagram died or was absorbed; the Record's Reason says
// it for people. The fabric's causes are the constants below; the actors that note what
// they did with a datagram ([Conn.Note]) define their own Cause values next to their code.
type Cause string

// Causes of the fabric's Dropped records.
const (
	// CauseUnroutable: the destination is no unicast IPv4 address (loopback, multicast,
	// broadcast, unspecified, IPv6): nothing routes it.
	CauseUnroutable Cause = "unroutable"
	// CauseNoHost: no host or NAT owns the public destination address, or no host on a
	// LAN owns the private one.
	CauseNoHost Cause = "no-host"
	// CausePrivateUnreachable: the destination is a private address the sender cannot
	// reach: it lies behind a NAT the sender is not behind, or in no LAN at all.
	CausePrivateUnreachable Cause = "private-unreachable"
	// CauseNoHairpin: a datagram from inside a NAT to that NAT's own public address, and
	// the NAT does not hairpin (RFC 4787 §6).
	CauseNoHairpin Cause = "no-hairpin"
	// CauseNoPort: the NAT had no free external port for a new binding.
	CauseNoPort Cause = "no-free-port"
	// CauseNoBinding: an inbound datagram for an external port no binding holds.
	CauseNoBinding Cause = "no-binding"
	// CauseBindingExpired: the binding for the external port had been idle longer than the
	// NAT's timeout (RFC 4787 §4.3).
	CauseBindingExpired Cause = "binding-expired"
	// CauseFiltered: the NAT's filtering refused a remote endpoint the internal one never
	// sent to (RFC 4787 §5).
	CauseFiltered Cause = "filtered"
	// CausePortUnreachable: the destination host has no Conn on the port.
	CausePortUnreachable Cause = "port-unreachable"
	// CauseQueueFull: the receiving Conn's queue was full (memory carrier only).
	CauseQueueFull Cause = "queue-full"
	// CauseForged: a frame that reached an endpoint's real socket but was not sent by the
	// run's own fabric (a foreign socket, a wrong run secret, a datagram id not in flight
	// to that endpoint, or a repeated one). It was refused, never delivered; the record has
	// Datagram 0 and its Reason names the real source it came from.
	CauseForged Cause = "forged"
)

// ByNAT reports whether a NAT's table or hairpin decided the drop (filtering, a missing
// or expired binding, no hairpinning, no free port).
func (c Cause) ByNAT() bool {
	switch c {
	case CauseNoHairpin, CauseNoPort, CauseNoBinding, CauseBindingExpired, CauseFiltered:
		return true
	}
	return false
}
