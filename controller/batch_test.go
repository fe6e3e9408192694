package controller

import (
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zkafka/zkafka/zkutils"
)

func testContext() *controllerContext {
	cc := newControllerContext()
	cc.epoch = 3
	rack := "r1"
	cc.liveBrokers[1] = zkutils.BrokerInfo{ID: 1, Epoch: 100, Rack: &rack, Endpoints: []zkutils.Endpoint{
		{Listener: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Host: "h1", Port: 9092},
		{Listener: "SECURE", SecurityProtocol: "SASL_SSL", Host: "h1", Port: 9093},
	}}
	cc.liveBrokers[2] = zkutils.BrokerInfo{ID: 2, Epoch: 200, Endpoints: []zkutils.Endpoint{
		{Listener: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Host: "h2", Port: 9092},
	}}
	cc.allTopics["t"] = true
	cc.topicIDs["t"] = [16]byte{1, 2, 3}
	cc.setAssignment("t", map[int32][]int32{0: {1, 2, 3}, 1: {2, 1, 3}})
	cc.leadership[tp{Topic: "t", Partition: 0}] = zkutils.LeaderIsr{Leader: 1, LeaderEpoch: 4, ISR: []int32{1, 2}, ControllerEpoch: 3, ZkVersion: 7}
	cc.leadership[tp{Topic: "t", Partition: 1}] = zkutils.LeaderIsr{Leader: 2, LeaderEpoch: 0, ISR: []int32{2, 1}, ControllerEpoch: 3, ZkVersion: 0}
	return cc
}

func testEnv(cc *controllerContext) requestEnv {
	return requestEnv{controllerID: 1, epoch: cc.epoch, listener: "PLAINTEXT", brokers: cc.liveBrokers, topicIDs: cc.topicIDs}
}

func TestBatchOrderAndRecipients(t *testing.T) {
	cc := testContext()
	b := newRequestBatch()
	// Broker 3 is not live: nothing may be sent to it.
	b.addStopReplica(cc, []int32{2}, tp{Topic: "t", Partition: 1}, false)
	b.addLeaderAndIsr(cc, []int32{1, 2, 3}, tp{Topic: "t", Partition: 0}, cc.leadership[tp{Topic: "t", Partition: 0}], true)
	out := b.build(testEnv(cc))
	var got []string
	for _, o := range out {
		got = append(got, kmsg.NameForKey(o.req.Key())+"@"+string(rune('0'+o.broker)))
	}
	want := []string{"LeaderAndISR@1", "LeaderAndISR@2", "UpdateMetadata@1", "UpdateMetadata@2", "StopReplica@2"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
}

func TestBuildLeaderAndIsr(t *testing.T) {
	cc := testContext()
	b := newRequestBatch()
	b.addLeaderAndIsr(cc, []int32{2}, tp{Topic: "t", Partition: 0}, cc.leadership[tp{Topic: "t", Partition: 0}], false)
	b.addLeaderAndIsr(cc, []int32{2}, tp{Topic: "t", Partition: 0}, cc.leadership[tp{Topic: "t", Partition: 0}], true) // isNew sticks once set
	out := b.build(testEnv(cc))
	req := out[0].req.(*kmsg.LeaderAndISRRequest)
	if req.Version != 7 || req.ControllerID != 1 || req.ControllerEpoch != 3 || req.BrokerEpoch != 200 {
		t.Fatalf("header %+v", req)
	}
	if len(req.TopicStates) != 1 || req.TopicStates[0].TopicID != cc.topicIDs["t"] || req.TopicStates[0].Topic != "t" {
		t.Fatalf("topics %+v", req.TopicStates)
	}
	ps := req.TopicStates[0].PartitionStates[0]
	if ps.Partition != 0 || ps.Leader != 1 || ps.LeaderEpoch != 4 || ps.ZKVersion != 7 || !ps.IsNew ||
		!reflect.DeepEqual(ps.ISR, []int32{1, 2}) || !reflect.DeepEqual(ps.Replicas, []int32{1, 2, 3}) || ps.ControllerEpoch != 3 {
		t.Fatalf("partition %+v", ps)
	}
	if len(req.LiveLeaders) != 1 || req.LiveLeaders[0].BrokerID != 1 || req.LiveLeaders[0].Host != "h1" || req.LiveLeaders[0].Port != 9092 {
		t.Fatalf("live leaders %+v", req.LiveLeaders)
	}
	// Encoding must succeed at v7 (catches fields the version cannot carry).
	if len(req.AppendTo(nil)) == 0 {
		t.Fatal("empty encoding")
	}
}

func TestBuildUpdateMetadata(t *testing.T) {
	cc := testContext()
	cc.topicsToBeDeleted["t"] = true
	b := newRequestBatch()
	b.addUpdateMetadata(cc, []int32{1}, []tp{{Topic: "t", Partition: 0}})
	req := b.build(testEnv(cc))[0].req.(*kmsg.UpdateMetadataRequest)
	if req.Version != 8 || req.BrokerEpoch != 100 || req.ControllerEpoch != 3 {
		t.Fatalf("header %+v", req)
	}
	ps := req.TopicStates[0].PartitionStates[0]
	if ps.Leader != -2 || !reflect.DeepEqual(ps.OfflineReplicas, []int32{3}) || req.TopicStates[0].TopicID != cc.topicIDs["t"] {
		t.Fatalf("partition %+v", ps)
	}
	if len(req.LiveBrokers) != 2 {
		t.Fatalf("live brokers %+v", req.LiveBrokers)
	}
	b1 := req.LiveBrokers[0]
	if b1.ID != 1 || *b1.Rack != "r1" || len(b1.Endpoints) != 2 || b1.Endpoints[1].ListenerName != "SECURE" ||
		b1.Endpoints[1].SecurityProtocol != 3 || b1.Endpoints[0].Port != 9092 {
		t.Fatalf("broker %+v", b1)
	}
}

func TestBuildStopReplica(t *testing.T) {
	cc := testContext()
	b := newRequestBatch()
	b.addStopReplica(cc, []int32{1}, tp{Topic: "t", Partition: 0}, false)
	out := b.build(testEnv(cc))
	req := out[0].req.(*kmsg.StopReplicaRequest)
	if out[0].deletion || req.Version != 4 || req.Topics[0].PartitionStates[0].LeaderEpoch != 4 || req.Topics[0].PartitionStates[0].Delete {
		t.Fatalf("plain stop %+v", req)
	}
	cc.topicsToBeDeleted["t"] = true
	b = newRequestBatch()
	b.addStopReplica(cc, []int32{1}, tp{Topic: "t", Partition: 0}, true)
	out = b.build(testEnv(cc))
	req = out[0].req.(*kmsg.StopReplicaRequest)
	if !out[0].deletion || req.Topics[0].PartitionStates[0].LeaderEpoch != -2 || !req.Topics[0].PartitionStates[0].Delete {
		t.Fatalf("deleting stop %+v", req)
	}
}
