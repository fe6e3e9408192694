package zkutils

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/go-zookeeper/zk"
)

const brokerIDsPath = "/brokers/ids"

func brokerPath(id int32) string { return brokerIDsPath + "/" + strconv.FormatInt(int64(id), 10) }

// defaultBrokerFeatures is what a 3.7 ZooKeeper-mode broker advertises: metadata.version 1..19 (IBP_3_7_IV4).
var defaultBrokerFeatures = map[string][2]int16{"metadata.version": {1, 19}}

// connectionString is Kafka's EndPoint.connectionString: LISTENER://host:port with IPv6 hosts in brackets.
func (e Endpoint) connectionString() string {
	return e.Listener + "://" + net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port)))
}

// encodeBroker writes the version 5 registration. Kafka builds it in a mutable.HashMap(6 pairs) and adds
// rack, listener_security_protocol_map and features, so the keys come out in that map's bucket order.
func encodeBroker(b BrokerInfo) []byte {
	var host any
	port := int32(-1)
	for _, e := range b.Endpoints {
		if e.SecurityProtocol == "PLAINTEXT" {
			host, port = e.Host, e.Port
			break
		}
	}
	endpoints := make([]string, 0, len(b.Endpoints))
	var listeners []string
	protoMap := object{}
	for _, e := range b.Endpoints {
		endpoints = append(endpoints, e.connectionString())
		listeners = append(listeners, e.Listener)
		protoMap[e.Listener] = e.SecurityProtocol
	}
	features := b.Features
	if features == nil {
		features = defaultBrokerFeatures
	}
	names := make([]string, 0, len(features))
	for n := range features {
		names = append(names, n)
	}
	sort.Strings(names) // Kafka's insertion order is unknown; only colliding buckets depend on it
	fobj := object{}
	for _, n := range names {
		r := features[n]
		fobj[n] = json.RawMessage(marshalOrdered(object{"min_version": r[0], "max_version": r[1]},
			[]string{"min_version", "max_version"}))
	}
	ts := b.Timestamp
	if ts == 0 {
		ts = time.Now().UnixMilli()
	}
	o := object{
		"version":   5,
		"host":      host,
		"port":      port,
		"endpoints": endpoints,
		"jmx_port":  b.JMXPort,
		"timestamp": strconv.FormatInt(ts, 10),
		"listener_security_protocol_map": json.RawMessage(marshalOrdered(protoMap,
			scalaImmutableMapOrder(dedup(listeners)))),
		"features": json.RawMessage(marshalOrdered(fobj, javaHashMapOrder(names))),
	}
	keys := []string{"version", "host", "port", "endpoints", "jmx_port", "timestamp"}
	if b.Rack != nil {
		o["rack"] = *b.Rack
		keys = append(keys, "rack")
	}
	keys = append(keys, "listener_security_protocol_map", "features")
	return marshalOrdered(o, scalaMutableMapOrder(keys, scalaMutableFromLen(6)))
}

// endpointRE is Kafka's EndPoint.uriParseExp.
var endpointRE = regexp.MustCompile(`^(.*)://\[?([0-9a-zA-Z\-%._:]*)\]?:(-?[0-9]+)`)

// decodeBroker reads any registration version (1..5), ignoring unknown fields.
func decodeBroker(id int32, data []byte) (BrokerInfo, error) {
	var v struct {
		Version   int                         `json:"version"`
		Host      *string                     `json:"host"`
		Port      int32                       `json:"port"`
		JMXPort   int32                       `json:"jmx_port"`
		Timestamp string                      `json:"timestamp"`
		Endpoints []string                    `json:"endpoints"`
		Protocols map[string]string           `json:"listener_security_protocol_map"`
		Rack      *string                     `json:"rack"`
		RawFeat   map[string]map[string]int16 `json:"features"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return BrokerInfo{}, fmt.Errorf("zkutils: bad registration for broker %d %q: %w", id, data, err)
	}
	b := BrokerInfo{ID: id, JMXPort: v.JMXPort, Rack: v.Rack}
	b.Timestamp, _ = strconv.ParseInt(v.Timestamp, 10, 64)
	switch {
	case v.Version < 1:
		return BrokerInfo{}, fmt.Errorf("zkutils: unsupported registration version %d for broker %d", v.Version, id)
	case v.Version == 1:
		host := ""
		if v.Host != nil {
			host = *v.Host
		}
		b.Endpoints = []Endpoint{{Listener: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Host: host, Port: v.Port}}
	default:
		for _, s := range v.Endpoints {
			m := endpointRE.FindStringSubmatch(s)
			if m == nil {
				return BrokerInfo{}, fmt.Errorf("zkutils: bad endpoint %q for broker %d", s, id)
			}
			port, err := strconv.ParseInt(m[3], 10, 32)
			if err != nil {
				return BrokerInfo{}, fmt.Errorf("zkutils: bad endpoint %q for broker %d", s, id)
			}
			proto := m[1]
			if v.Protocols != nil {
				p, ok := v.Protocols[m[1]]
				if !ok {
					return BrokerInfo{}, fmt.Errorf("zkutils: no security protocol for listener %s of broker %d", m[1], id)
				}
				proto = p
			}
			b.Endpoints = append(b.Endpoints, Endpoint{Listener: m[1], SecurityProtocol: proto, Host: m[2], Port: int32(port)})
		}
	}
	b.Features = map[string][2]int16{}
	for name, r := range v.RawFeat {
		b.Features[name] = [2]int16{r["min_version"], r["max_version"]}
	}
	return b, nil
}

// RegisterBroker creates the ephemeral /brokers/ids/<id> as Kafka's CheckedEphemeral does and returns the
// broker epoch (the znode's czxid). If the node exists and belongs to this session it is reused; if it belongs
// to one of this client's earlier (expired) sessions it is replaced; otherwise ErrBrokerIDInUse.
func (c *Client) RegisterBroker(b BrokerInfo) (epoch int64, err error) {
	cl := c.impl
	p := brokerPath(b.ID)
	data := encodeBroker(b)
	for attempt := 0; attempt < 3; attempt++ {
		res, _, err := cl.multi(
			&zk.CreateRequest{Path: cl.abs(p), Acl: openACL, Flags: zk.FlagEphemeral},
			&zk.SetDataRequest{Path: cl.abs(p), Data: data, Version: 0})
		if err == nil {
			return res[1].Stat.Czxid, nil
		}
		if !errors.Is(err, zk.ErrNodeExists) {
			return 0, mapErr("register", p, err)
		}
		_, st, err := cl.get(p)
		if errors.Is(err, ErrNoNode) {
			continue // went away while we looked: create again
		}
		if err != nil {
			return 0, err
		}
		owner := st.EphemeralOwner
		if owner == cl.conn.SessionID() {
			return st.Czxid, nil
		}
		cl.mu.Lock()
		ours := cl.pastIDs[owner]
		cl.mu.Unlock()
		if !ours {
			return 0, fmt.Errorf("%w: broker %d (owner session 0x%x)", ErrBrokerIDInUse, b.ID, owner)
		}
		cl.log.Infof("replacing %s left by our previous session 0x%x", p, owner)
		if err := cl.conn.Delete(cl.abs(p), -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return 0, mapErr("delete", p, err)
		}
	}
	return 0, fmt.Errorf("zkutils: could not register broker %d: %s keeps changing", b.ID, p)
}

// GetBroker reads one registration; Epoch is the znode's czxid.
func (c *Client) GetBroker(id int32) (BrokerInfo, bool, error) {
	data, st, err := c.impl.get(brokerPath(id))
	if errors.Is(err, ErrNoNode) {
		return BrokerInfo{}, false, nil
	}
	if err != nil {
		return BrokerInfo{}, false, err
	}
	b, err := decodeBroker(id, data)
	if err != nil {
		return BrokerInfo{}, false, err
	}
	b.Epoch = st.Czxid
	return b, true, nil
}

// GetAllBrokers reads every registration (pipelined), sorted by id.
func (c *Client) GetAllBrokers() ([]BrokerInfo, error) {
	names, err := c.impl.children(brokerIDsPath)
	if errors.Is(err, ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ids := parseIDs(names)
	out := make([]BrokerInfo, len(ids))
	found := make([]bool, len(ids))
	errs := make([]error, len(ids))
	parallel(len(ids), func(i int) { out[i], found[i], errs[i] = c.GetBroker(ids[i]) })
	res := out[:0]
	for i := range ids {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if found[i] {
			res = append(res, out[i])
		}
	}
	return res, nil
}

// WatchBrokerIDs lists live broker ids (sorted) and sets a child watch on /brokers/ids.
func (c *Client) WatchBrokerIDs() ([]int32, Watch, error) {
	names, w, err := c.impl.childrenW(brokerIDsPath)
	if err != nil {
		return nil, nil, err
	}
	return parseIDs(names), w, nil
}

func parseIDs(names []string) []int32 {
	ids := make([]int32, 0, len(names))
	for _, n := range names {
		if id, err := strconv.ParseInt(n, 10, 32); err == nil {
			ids = append(ids, int32(id))
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// WatchBroker reads one registration and sets a data watch on it (Kafka's BrokerModificationsHandler); a
// missing node yields found=false and an exists watch.
func (c *Client) WatchBroker(id int32) (BrokerInfo, bool, Watch, error) {
	data, st, found, w, err := c.impl.getW(brokerPath(id))
	if err != nil || !found {
		return BrokerInfo{}, false, w, err
	}
	b, err := decodeBroker(id, data)
	if err != nil {
		return BrokerInfo{}, false, w, err
	}
	b.Epoch = st.Czxid
	return b, true, w, nil
}
