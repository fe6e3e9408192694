package zkutils

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

const clusterIDPath = "/cluster/id"

// encodeClusterID writes {"version":"1","id":"..."}: Kafka's version here is a string.
func encodeClusterID(id string) []byte {
	return marshalOrdered(object{"version": "1", "id": id}, []string{"version", "id"})
}

func decodeClusterID(data []byte) (string, error) {
	var v struct {
		ID *string `json:"id"`
	}
	if err := json.Unmarshal(data, &v); err != nil || v.ID == nil {
		return "", fmt.Errorf("zkutils: bad cluster id JSON %q: %v", data, err)
	}
	return *v.ID, nil
}

// NewClusterID returns a random UUID (version 4, as java.util.UUID.randomUUID) in base64url without padding.
// Like Kafka's Uuid.randomUuid it never starts with '-', so it cannot be mistaken for a command-line flag.
func NewClusterID() string {
	for {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			panic("zkutils: crypto/rand: " + err.Error())
		}
		b[6] = b[6]&0x0f | 0x40
		b[8] = b[8]&0x3f | 0x80
		if s := base64.RawURLEncoding.EncodeToString(b[:]); s[0] != '-' {
			return s
		}
	}
}

// GetOrCreateClusterID returns /cluster/id, creating it with proposed if absent; when another broker wins the
// race to create it, the winner's id is returned.
func (c *Client) GetOrCreateClusterID(proposed string) (string, error) {
	data, _, err := c.impl.get(clusterIDPath)
	if err == nil {
		return decodeClusterID(data)
	}
	if !errors.Is(err, ErrNoNode) {
		return "", err
	}
	err = c.impl.createRecursive(clusterIDPath, encodeClusterID(proposed), 0)
	if err == nil {
		return proposed, nil
	}
	if !errors.Is(err, ErrNodeExists) {
		return "", err
	}
	if data, _, err = c.impl.get(clusterIDPath); err != nil {
		return "", err
	}
	return decodeClusterID(data)
}
