package broker

import (
	"context"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

func init() { register(32, 0, 4, (*Server).handleDescribeConfigs) }

// topicConfigDefaults are Kafka 3.7's topic-level defaults (LogConfig), used when neither the topic nor
// server.properties sets a value.
var topicConfigDefaults = map[string]string{
	"cleanup.policy": "delete", "compression.type": "producer", "delete.retention.ms": "86400000",
	"file.delete.delay.ms": "60000", "flush.messages": "9223372036854775807", "flush.ms": "9223372036854775807",
	"index.interval.bytes": "4096", "max.compaction.lag.ms": "9223372036854775807", "max.message.bytes": "1048588",
	"message.timestamp.type": "CreateTime", "message.timestamp.difference.max.ms": "9223372036854775807",
	"message.timestamp.before.max.ms": "9223372036854775807", "message.timestamp.after.max.ms": "9223372036854775807",
	"message.downconversion.enable": "true", "min.cleanable.dirty.ratio": "0.5", "min.compaction.lag.ms": "0",
	"min.insync.replicas": "1", "preallocate": "false", "retention.bytes": "-1", "retention.ms": "604800000",
	"segment.bytes": "1073741824", "segment.index.bytes": "10485760", "segment.jitter.ms": "0",
	"segment.ms": "604800000", "unclean.leader.election.enable": "false",
	"leader.replication.throttled.replicas": "", "follower.replication.throttled.replicas": "",
	"local.retention.bytes": "-2", "local.retention.ms": "-2", "remote.storage.enable": "false",
}

// brokerSynonyms lists, most specific first, the server.properties names behind a topic config.
func brokerSynonyms(topicKey string) []string {
	switch topicKey {
	case "retention.ms":
		return []string{"log.retention.ms", "log.retention.minutes", "log.retention.hours"}
	case "segment.ms":
		return []string{"log.roll.ms", "log.roll.hours"}
	case "segment.jitter.ms":
		return []string{"log.roll.jitter.ms", "log.roll.jitter.hours"}
	case "flush.ms":
		return []string{"log.flush.interval.ms", "log.flush.scheduler.interval.ms"}
	}
	if b := topicConfigSynonyms[topicKey]; b != "" {
		return []string{b}
	}
	return nil
}

// brokerValueAsTopic converts a server.properties value to the topic config's unit (hours/minutes → ms).
func brokerValueAsTopic(brokerKey, v string) string {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return v
	}
	switch brokerKey {
	case "log.retention.hours", "log.roll.hours", "log.roll.jitter.hours":
		return strconv.FormatInt(n*3600000, 10)
	case "log.retention.minutes":
		return strconv.FormatInt(n*60000, 10)
	}
	return v
}

const (
	sourceDynamicTopic = kmsg.ConfigSource(1)
	sourceStaticBroker = kmsg.ConfigSource(4)
	sourceDefault      = kmsg.ConfigSource(5)
)

func (s *Server) handleDescribeConfigs(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, r := range req.Resources {
		rr := kmsg.NewDescribeConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		var entries []kmsg.DescribeConfigsResponseResourceConfig
		switch r.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			if err := validateTopicName(r.ResourceName); err != nil {
				rr.ErrorCode, rr.ErrorMessage = errorCode(err), errMessage(err)
				break
			}
			exists, err := s.zk.TopicExists(r.ResourceName)
			if err == nil && !exists {
				err = newAPIError(kerr.UnknownTopicOrPartition, "Topic %s does not exist", r.ResourceName)
			}
			var overrides map[string]string
			if err == nil {
				overrides, err = s.zk.GetTopicConfig(r.ResourceName)
			}
			if err != nil {
				rr.ErrorCode, rr.ErrorMessage = errorCode(err), errMessage(err)
				break
			}
			entries = s.topicConfigEntries(overrides, req.IncludeSynonyms)
		case kmsg.ConfigResourceTypeBroker:
			if r.ResourceName != "" && r.ResourceName != strconv.Itoa(int(s.cfg.BrokerID)) {
				rr.ErrorCode = kerr.InvalidRequest.Code
				msg := "Unexpected broker id, expected " + strconv.Itoa(int(s.cfg.BrokerID)) + " or empty string, but received " + r.ResourceName
				rr.ErrorMessage = &msg
				break
			}
			entries = s.brokerConfigEntries(req.IncludeSynonyms)
		default:
			rr.ErrorCode = kerr.InvalidRequest.Code
			msg := "Unsupported resource type " + r.ResourceType.String()
			rr.ErrorMessage = &msg
		}
		if r.ConfigNames != nil {
			want := map[string]bool{}
			for _, n := range r.ConfigNames {
				want[n] = true
			}
			kept := entries[:0]
			for _, e := range entries {
				if want[e.Name] {
					kept = append(kept, e)
				}
			}
			entries = kept
		}
		for i := range entries {
			entries[i].IsDefault = entries[i].Source == sourceDefault
		}
		rr.Configs = entries
		resp.Resources = append(resp.Resources, rr)
	}
	respond(resp)
}

func configEntry(name, value string, source kmsg.ConfigSource) kmsg.DescribeConfigsResponseResourceConfig {
	e := kmsg.NewDescribeConfigsResponseResourceConfig()
	v := value
	e.Name, e.Value, e.Source = name, &v, source
	return e
}

func synonym(name, value string, source kmsg.ConfigSource) kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	sy := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
	v := value
	sy.Name, sy.Value, sy.Source = name, &v, source
	return sy
}

// topicConfigEntries resolves each topic config: topic override, then server.properties, then Kafka's default.
func (s *Server) topicConfigEntries(overrides map[string]string, withSynonyms bool) []kmsg.DescribeConfigsResponseResourceConfig {
	names := make([]string, 0, len(topicConfigDefaults))
	for n := range topicConfigDefaults {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]kmsg.DescribeConfigsResponseResourceConfig, 0, len(names))
	for _, n := range names {
		var syns []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
		if v, ok := overrides[n]; ok {
			syns = append(syns, synonym(n, v, sourceDynamicTopic))
		}
		for _, b := range brokerSynonyms(n) {
			if v, ok := s.cfg.props[b]; ok {
				syns = append(syns, synonym(b, v, sourceStaticBroker))
			}
		}
		def := topicConfigDefaults[n]
		if bs := brokerSynonyms(n); len(bs) > 0 {
			syns = append(syns, synonym(bs[len(bs)-1], brokerDefaultFor(bs[len(bs)-1], def), sourceDefault))
		} else {
			syns = append(syns, synonym(n, def, sourceDefault))
		}
		top := syns[0]
		value := *top.Value
		if top.Source == sourceStaticBroker {
			value = brokerValueAsTopic(top.Name, value)
		} else if top.Source == sourceDefault {
			value = def
		}
		e := configEntry(n, value, top.Source)
		if withSynonyms {
			e.ConfigSynonyms = syns
		}
		out = append(out, e)
	}
	return out
}

// brokerDefaultFor is the server.properties default shown as the DEFAULT_CONFIG synonym.
func brokerDefaultFor(brokerKey, topicDefault string) string {
	if v, ok := defaults[brokerKey]; ok {
		return v
	}
	return topicDefault
}

// brokerConfigEntries lists server.properties: explicit entries as STATIC_BROKER_CONFIG, the rest as defaults.
func (s *Server) brokerConfigEntries(withSynonyms bool) []kmsg.DescribeConfigsResponseResourceConfig {
	seen := map[string]bool{}
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for _, k := range s.cfg.Explicit() {
		seen[k] = true
		e := configEntry(k, s.cfg.props[k], sourceStaticBroker)
		e.ReadOnly = true
		if withSynonyms {
			e.ConfigSynonyms = append(e.ConfigSynonyms, synonym(k, s.cfg.props[k], sourceStaticBroker))
		}
		out = append(out, e)
	}
	keys := make([]string, 0, len(defaults))
	for k := range defaults {
		if !seen[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		e := configEntry(k, defaults[k], sourceDefault)
		e.ReadOnly = true
		if withSynonyms {
			e.ConfigSynonyms = append(e.ConfigSynonyms, synonym(k, defaults[k], sourceDefault))
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
