package coordinator

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTxnEndOvertakesAddPartitions pins what an EndTxn(commit) gets when it reaches the coordinator before the
// AddPartitionsToTxn of its own transaction, as it does from a kgo producer that ends a transaction without
// Flush (kgo marks a partition added before its AddPartitionsToTxn is answered). Kafka 3.7's endTransaction
// answers by the state the id is in, and so do we: INVALID_TXN_STATE on the first transaction (Empty), which is
// the intermittent failure of an unflushed benchmark loop; CONCURRENT_TRANSACTIONS while a write is in flight;
// NONE, writing nothing, after a finished commit.
func TestTxnEndOvertakesAddPartitions(t *testing.T) {
	type setup struct {
		c   *TxnCoordinator
		f   *txnFake
		pid int64
		ep  int16
	}
	commitOne := func(t *testing.T, s setup) {
		s.c.mustAdd(t, "txn", s.pid, s.ep, tp("t", 0))
		s.c.mustCommit(t, "txn", s.pid, s.ep)
	}
	for _, tc := range []struct {
		name   string
		before func(t *testing.T, s setup) (after func())
		want   int16
		state  string // right after the EndTxn
	}{
		{"first transaction", func(*testing.T, setup) func() { return nil }, kerr.InvalidTxnState.Code, "Empty"},
		{"add in flight", func(t *testing.T, s setup) func() {
			s.f.mu.Lock()
			s.f.holdAppends = true
			s.f.mu.Unlock()
			r := kmsg.NewPtrAddPartitionsToTxnRequest()
			r.Version, r.TransactionalID, r.ProducerID, r.ProducerEpoch = 3, "txn", s.pid, s.ep
			rt := kmsg.NewAddPartitionsToTxnRequestTopic()
			rt.Topic, rt.Partitions = "t", []int32{0}
			r.Topics = append(r.Topics, rt)
			added := make(chan int16, 1)
			s.c.AddPartitionsToTxn(r, func(resp *kmsg.AddPartitionsToTxnResponse) {
				added <- resp.Topics[0].Partitions[0].ErrorCode
			})
			waitFor(t, "the Ongoing append", func() bool { return len(s.f.records(0)) == 2 })
			return func() {
				s.f.releaseAppends()
				if code := recvTB(t, added); code != 0 {
					t.Fatalf("held add: %s", errName(code))
				}
			}
		}, kerr.ConcurrentTransactions.Code, "Empty"},
		{"previous commit's markers in flight", func(t *testing.T, s setup) func() {
			s.f.holdAllMarkers()
			commitOne(t, s)
			return s.f.releaseMarkers
		}, kerr.ConcurrentTransactions.Code, "PrepareCommit"},
		{"previous commit complete", func(t *testing.T, s setup) func() {
			commitOne(t, s)
			waitFor(t, "CompleteCommit", func() bool { return s.c.stateOf("txn") == "CompleteCommit" })
			return nil
		}, 0, "CompleteCommit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, f, _ := newTxnTest(t)
			pid, ep := c.mustInit(t, "txn")
			s := setup{c, f, pid, ep}
			after := tc.before(t, s)
			written := len(f.records(0))
			if code := c.endTxn(t, 3, "txn", pid, ep, true); code != tc.want {
				t.Fatalf("EndTxn before the add: %s, want %s", errName(code), errName(tc.want))
			}
			if got := c.stateOf("txn"); got != tc.state {
				t.Fatalf("state %s, want %s", got, tc.state)
			}
			if n := len(f.records(0)); n != written {
				t.Fatalf("the early EndTxn wrote %d records", n-written)
			}
			if after != nil {
				after()
			}
			// The late add opens (or has opened) a transaction that the next EndTxn commits.
			waitFor(t, "no write in flight", func() bool {
				st := c.stateOf("txn")
				return st == "Ongoing" || st == "Empty" || st == "CompleteCommit"
			})
			if code := c.addCode(t, 3, "txn", pid, ep, tp("t", 1)); code != 0 {
				t.Fatalf("late add: %s", errName(code))
			}
			if code := c.endTxn(t, 3, "txn", pid, ep, true); code != 0 {
				t.Fatalf("next EndTxn: %s", errName(code))
			}
			waitFor(t, "CompleteCommit", func() bool { return c.stateOf("txn") == "CompleteCommit" })
		})
	}
}
