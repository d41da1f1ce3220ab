package scenario

import "fmt"

// RealProxyBehindNAT explains why a real proxy (engine) cannot stand in the place of
// host h, "" when it can. A real proxy behind a NAT is reached from outside its lan
// only through a static forward of that NAT ("forwards"), which the run's fabric
// translates like any other datagram; without one nothing outside could reach it.
// The loader applies it to engine keys and sipnatlab validate to --as and --proxy, so
// both refuse with this text.
func (s *Scenario) RealProxyBehindNAT(h Host, engine Engine) string {
	if h.NAT == "" {
		return ""
	}
	n, _ := s.NAT(h.NAT)
	if _, ok := n.Forward(h.Name); ok {
		return ""
	}
	return fmt.Sprintf("a real proxy (engine %s) cannot sit behind NAT %s, which forwards no port to it; forward one (forwards: {%d: %s} on %s) or give %s a public address",
		engine, n.Name, h.Address.Port(), h.Name, n.Name, h.Name)
}
