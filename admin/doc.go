// Package admin holds the logic of zkafka's operator tools: kafka-topics,
// kafka-console-producer, kafka-console-consumer, kafka-broker-api-versions,
// the producer/consumer perf tests, kafka-e2e-latency, kafka-leader-election,
// kafka-preferred-replica-election, kafka-delete-records, kafka-get-offsets,
// kafka-consumer-groups, kafka-transactions and kafka-dump-log, each behind one *Main entry point that cmd/zkafka
// dispatches to.
//
// The tools speak to the cluster only through the Kafka protocol using
// franz-go (kgo, kadm, kmsg), exactly as Kafka's own tools use the Java
// clients, so they work against any Kafka-compatible broker. This package
// must not import any other zkafka package and knows nothing about the
// broker's internals or ZooKeeper. The one exception to "protocol only" is
// kafka-dump-log, which reads segment, index and snapshot files directly, as
// Kafka's DumpLogSegments does; it decodes them with kmsg and its own readers
// of the documented file formats.
//
// Flags, messages and output formats follow Kafka 3.7.0's tool classes
// (TopicCommand, ConsoleProducer, ConsoleConsumer, BrokerApiVersionsCommand,
// ProducerPerformance, ConsumerPerformance, LeaderElectionCommand,
// DeleteRecordsCommand, GetOffsetShell, ConsumerGroupCommand, TransactionsCommand,
// DumpLogSegments). Formatting is kept
// in pure functions so it can be tested without a cluster.
package admin
