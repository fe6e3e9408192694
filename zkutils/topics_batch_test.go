package zkutils

import "testing"

func TestWatchTopicAssignments(t *testing.T) {
	c, _ := setup(t)
	ver := elect(t, c, 1)
	for _, topic := range []string{"a", "b"} {
		if err := c.CreateTopic(topic, map[int32][]int32{0: {1}}, [16]byte{2}, nil); err != nil {
			t.Fatal(err)
		}
	}
	as, ws, err := c.WatchTopicAssignments([]string{"a", "b", "later"})
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 2 || len(ws) != 3 || as["a"].Partitions[0][0] != 1 || as["b"].TopicID != [16]byte{2} {
		t.Fatalf("assignments %+v, %d watches", as, len(ws))
	}
	a := as["a"]
	a.Partitions = map[int32][]int32{0: {1}, 1: {1}}
	if _, err := c.SetTopicAssignment(ver, a); err != nil {
		t.Fatal(err)
	}
	waitFired(t, ws["a"], "changed topic a")
	notFired(t, ws["b"], "untouched topic b")
	if err := c.CreateTopic("later", map[int32][]int32{0: {1}}, [16]byte{3}, nil); err != nil {
		t.Fatal(err)
	}
	waitFired(t, ws["later"], "created topic")
}
