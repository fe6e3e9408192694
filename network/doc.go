// Package network owns the broker's side of the Kafka wire: listeners, accepted
// connections, size-prefixed framing, request header parsing, the bounded request
// queue (queued.max.requests), the handler pool (num.io.threads) and writing
// responses back in request order per connection. It also holds the small client
// the controller (and a broker asking for ControlledShutdown) uses to speak the
// same protocol to other brokers.
//
// It must not know about topics, partitions, logs or ZooKeeper, and it imports no
// other zkafka package: it hands decoded kmsg requests to a Handler and writes
// whatever kmsg response comes back.
//
// Ordering follows Kafka's "mute": a connection has at most one request in the
// handler pool at a time, and the next one is dispatched only after the previous
// response has been flushed to the socket (or needed no response). The reader may
// read and decode one frame ahead meanwhile.
package network
