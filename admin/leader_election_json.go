package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// topicPartition names one partition on the command line or in an election JSON file.
type topicPartition struct {
	topic     string
	partition int32
}

func (tp topicPartition) String() string { return fmt.Sprintf("%s-%d", tp.topic, tp.partition) }

// readElectionJSON reads {"partitions":[{"topic":"foo","partition":1},…]}, the file both election tools take.
// what prefixes the errors ("Replica election data" or "Preferred replica election data"), as each tool words
// them.
func readElectionJSON(path, what string) ([]topicPartition, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseElectionJSON(data, what)
}

func parseElectionJSON(data []byte, what string) ([]topicPartition, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s is empty", what)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON: %v", what, err)
	}
	raw, ok := doc["partitions"]
	if !ok {
		if what == "Replica election data" {
			return nil, fmt.Errorf("%s is missing \"partitions\" field", what)
		}
		return nil, fmt.Errorf("%s is empty", what)
	}
	var entries []struct {
		Topic     *string `json:"topic"`
		Partition *int32  `json:"partition"`
	}
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, fmt.Errorf("%s: \"partitions\" must be a list of {\"topic\": string, \"partition\": int}: %v", what, err)
	}
	var out []topicPartition
	seen := map[topicPartition]int{}
	var dups []string
	for _, e := range entries {
		if e.Topic == nil || e.Partition == nil {
			return nil, fmt.Errorf("%s: every entry needs \"topic\" and \"partition\"", what)
		}
		tp := topicPartition{*e.Topic, *e.Partition}
		seen[tp]++
		if seen[tp] == 2 {
			dups = append(dups, tp.String())
		}
		if seen[tp] == 1 {
			out = append(out, tp)
		}
	}
	if len(dups) > 0 {
		if what == "Replica election data" {
			return nil, fmt.Errorf("%s contains duplicate partitions: [%s]", what, strings.Join(dups, ", "))
		}
		return nil, fmt.Errorf("%s contains duplicate partitions: %s", what, strings.Join(dups, ","))
	}
	if out == nil {
		out = []topicPartition{}
	}
	return out, nil
}
