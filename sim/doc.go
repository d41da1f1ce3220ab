// Package sim is the simulated network fabric of sipnatlab: hosts with virtual IPv4
// addresses, private LANs behind RFC 4787 NAT boxes, routing between them, and a capture of
// every datagram at every hop. It exists so that SIP actors can be wired into a NAT topology
// in-process, with real-looking net.PacketConns, and every NAT decision can be explained
// afterwards from one record.
//
// A typical world:
//
//	    LAN 192.168.1.0/24             NAT box                      public side
//	+-----------------------+   +---------------------+
//	| alice 192.168.1.10    |   | home-nat            |   +--------------------------+
//	|   :5060 --------------+-->| public 203.0.113.50 |-->| proxy   203.0.113.2:5060 |
//	| bob   192.168.1.11    |   | :40000 -> alice     |   | carrier 198.51.100.10    |
//	+-----------------------+   +---------------------+   +--------------------------+
//	    each endpoint = one UDP socket on 127.0.0.1, or one queue; the topology is virtual
//
// Two carriers move datagrams, chosen by [Config].Carrier. With [Loopback], the default,
// every virtual endpoint (host address and port) opened with [Host.ListenPacket] is backed by
// its own real UDP socket bound to 127.0.0.1, so datagrams really cross the kernel loopback
// (watch them with tshark on lo); the fabric never writes to an address outside 127.0.0.0/8.
// With [Memory], every endpoint is a receive queue: no sockets, and nothing blocks except on
// channels and timers, so a whole run fits in a testing/synctest bubble where timers such as
// 64*T1 pass in simulated time. On [Conn.WriteTo] the fabric routes the datagram through the
// virtual topology, applying NAT mapping and filtering (RFC 4787 §4 and §5), and either hands
// it to the carrier for the destination or drops it with a reason. A NAT may sit behind
// another one (its public address in the outer NAT's LAN, as a home router behind a
// carrier-grade NAT on 100.64.0.0/10); a datagram then crosses each in turn, outwards and
// inwards. Every step lands in the network's [Capture]: Sent, Translated, Delivered,
// Dropped, BindingCreated and BindingExpired records.
//
// Only the run itself can deliver into a loopback run, though any process can write to
// 127.0.0.1: every frame carries a random secret of its Network, held only in memory, and a
// Conn admits a frame only if the fabric routed that datagram to it and it comes from the
// real socket that wrote it, once. Whatever else reaches a socket is never delivered; it is
// recorded as Dropped with Datagram 0 and [CauseForged], its real source in the Reason, and
// past the first 64 only counted ([Stats].Forged). forgery.go says how.
//
// Time comes from the [Clock] given in [Config]; NAT binding expiry is evaluated lazily
// against it, so the package owns no goroutines and no timers (a read deadline of the memory
// carrier is a timer in the reading goroutine, stopped when the read returns).
package sim
