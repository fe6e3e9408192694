// Package log owns the broker's on-disk data: one partition's commit log
// (segments with their offset and time indexes, offset assignment, batch
// validation, recovery of a torn tail, the leader-epoch cache with its
// leader-epoch-checkpoint file, truncation, the per-producer state of
// idempotent and transactional producers with its .snapshot files, the
// last stable offset and the .txnindex of aborted transactions) and the
// LogManager over
// log.dirs with Kafka's checkpoint files, meta.properties, the .lock file
// and the clean shutdown marker. Every file it writes uses classic Kafka
// 3.7's format, so a partition directory written here can be read by
// Kafka's tools and back.
//
// It must not know about the network, ZooKeeper, replication or any other
// zkafka package: it offers replication its mechanisms (follower appends,
// epoch lookups, truncation) and leaves the decisions to the broker, which
// derives a Config from server.properties and topic overrides, and maps the
// exported errors to Kafka error codes. Compression libraries are used only
// here.
//
// Locking, per Log, in this order: appendMu (serializes appends, rolls,
// truncations, Flush and Close), flushMu (serializes fsyncs and
// recovery-point moves, including the background flush of a rolled
// segment), mu (guards the segment list and the lifetime of the mmapped
// indexes; a truncation holds it exclusively while the log end and the
// indexes move back), and last the leaf locks: the leader-epoch cache's,
// the producer state's and each transaction index's (for readers that
// hold nothing else; all three change only under appendMu). Readers take only mu, shared, for their index lookups;
// outside it they read a few batch headers with pread and return file
// regions, copying no data. Files are Linux/Unix only: flock for .lock,
// mmap for indexes.
package log
