package broker

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/controller"
	"github.com/zkafka/zkafka/zkutils"
)

func TestControllerConfigKeys(t *testing.T) {
	tests := []struct {
		name    string
		props   map[string]string
		check   func(*Config) bool
		wantErr bool
	}{
		{"defaults", nil, func(c *Config) bool {
			return c.ControlledShutdownEnable && c.ControlledShutdownMaxRetries == 3 && c.ControlledShutdownBackoff == 5*time.Second &&
				c.AutoLeaderRebalanceEnable && c.LeaderImbalancePerBrokerPct == 10 && c.LeaderImbalanceCheckInterval == 300*time.Second
		}, false},
		{"set", map[string]string{
			"controlled.shutdown.enable": "false", "controlled.shutdown.max.retries": "5", "controlled.shutdown.retry.backoff.ms": "250",
			"auto.leader.rebalance.enable": "false", "leader.imbalance.per.broker.percentage": "25", "leader.imbalance.check.interval.seconds": "1",
		}, func(c *Config) bool {
			return !c.ControlledShutdownEnable && c.ControlledShutdownMaxRetries == 5 && c.ControlledShutdownBackoff == 250*time.Millisecond &&
				!c.AutoLeaderRebalanceEnable && c.LeaderImbalancePerBrokerPct == 25 && c.LeaderImbalanceCheckInterval == time.Second
		}, false},
		{"interval below 1", map[string]string{"leader.imbalance.check.interval.seconds": "0"}, nil, true},
		{"bad retries", map[string]string{"controlled.shutdown.max.retries": "x"}, nil, true},
		{"bad bool", map[string]string{"auto.leader.rebalance.enable": "yes"}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			props := map[string]string{"zookeeper.connect": "localhost:2181"}
			for k, v := range tc.props {
				props[k] = v
			}
			c, err := NewConfig(props)
			if tc.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil || !tc.check(c) {
				t.Fatalf("NewConfig: %+v, %v", c, err)
			}
			for _, k := range []string{"controlled.shutdown.max.retries", "leader.imbalance.check.interval.seconds", "auto.leader.rebalance.enable"} {
				if _, ok := c.Get(k); !ok {
					t.Errorf("%s has no default (DescribeConfigs would not list it)", k)
				}
			}
		})
	}
}

func TestControllerErrorCode(t *testing.T) {
	tests := []struct {
		err  error
		want *kerr.Error
	}{
		{controller.ErrNotController, kerr.NotController},
		{fmt.Errorf("broker 3: %w", controller.ErrStaleBrokerEpoch), kerr.StaleBrokerEpoch},
		{controller.ErrBrokerNotAvailable, kerr.BrokerNotAvailable},
		{controller.ErrElectionNotNeeded, kerr.ElectionNotNeeded},
		{controller.ErrPreferredLeaderNotAvailable, kerr.PreferredLeaderNotAvailable},
		{controller.ErrEligibleLeadersNotAvailable, kerr.EligibleLeadersNotAvailable},
		{controller.ErrUnknownTopicOrPartition, kerr.UnknownTopicOrPartition},
		{controller.ErrTopicBeingDeleted, kerr.InvalidTopicException},
		{controller.ErrInvalidElectionType, kerr.InvalidRequest},
		{context.DeadlineExceeded, kerr.RequestTimedOut},
		{fmt.Errorf("zookeeper down"), kerr.UnknownServerError},
	}
	for _, tc := range tests {
		if got := controllerErrorCode(tc.err); got != tc.want.Code {
			t.Errorf("controllerErrorCode(%v) = %d, want %d (%s)", tc.err, got, tc.want.Code, tc.want.Message)
		}
	}
}

func TestElectionErrorMessage(t *testing.T) {
	tp := zkutils.TopicPartition{Topic: "t", Partition: 1}
	tests := []struct {
		typ  int8
		err  error
		want *string
	}{
		{electionPreferred, controller.ErrElectionNotNeeded, nil},
		{electionPreferred, controller.ErrNotController, nil},
		{electionPreferred, controller.ErrPreferredLeaderNotAvailable, kmsg.StringPtr("Failed to elect leader for partition t-1 under strategy PreferredReplicaPartitionLeaderElectionStrategy")},
		{electionUnclean, controller.ErrEligibleLeadersNotAvailable, kmsg.StringPtr("Failed to elect leader for partition t-1 under strategy OfflinePartitionLeaderElectionStrategy(true)")},
		{electionPreferred, controller.ErrUnknownTopicOrPartition, kmsg.StringPtr("The partition does not exist.")},
		{electionPreferred, controller.ErrTopicBeingDeleted, kmsg.StringPtr("The topic is being deleted")},
	}
	for _, tc := range tests {
		if got := electionErrorMessage(tp, tc.typ, tc.err); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("electionErrorMessage(%v) = %v, want %v", tc.err, deref(got), deref(tc.want))
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// For a null partition list Kafka leaves out partitions that needed no election; for an explicit list it keeps
// them. Topics are grouped in partition order.
func TestFillElectLeadersResponse(t *testing.T) {
	tps := []zkutils.TopicPartition{{Topic: "a", Partition: 0}, {Topic: "a", Partition: 1}, {Topic: "b", Partition: 0}}
	outcomes := map[zkutils.TopicPartition]*electionOutcome{
		tps[0]: {},
		tps[1]: {code: kerr.ElectionNotNeeded.Code},
		tps[2]: {code: kerr.PreferredLeaderNotAvailable.Code, msg: kmsg.StringPtr("x")},
	}
	summary := func(r *kmsg.ElectLeadersResponse) string {
		s := ""
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				s += fmt.Sprintf("%s-%d:%d ", t.Topic, p.Partition, p.ErrorCode)
			}
		}
		return s
	}
	tests := []struct {
		all  bool
		want string
	}{
		{false, "a-0:0 a-1:84 b-0:80 "},
		{true, "a-0:0 b-0:80 "},
	}
	for _, tc := range tests {
		resp := kmsg.NewPtrElectLeadersResponse()
		fillElectLeadersResponse(resp, tps, outcomes, tc.all)
		if got := summary(resp); got != tc.want || len(resp.Topics) != 2 {
			t.Errorf("all=%v: %q (%d topics), want %q", tc.all, got, len(resp.Topics), tc.want)
		}
	}
}
