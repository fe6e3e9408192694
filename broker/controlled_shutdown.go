package broker

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

// controlledShutdownVersion is what Kafka sends for IBP ≥ 2.4-IV1.
const controlledShutdownVersion = 3

// controlledShutdown asks the active controller to move leadership off this broker before anything stops
// (Kafka's KafkaServer.controlledShutdown). The broker keeps serving meanwhile: it must apply the LeaderAndIsr and
// StopReplica requests the controller sends while it moves leaders, and clients must keep being answered until
// they learn the new leaders. A controller that is this very broker gets the request over the network too.
func (s *Server) controlledShutdown() {
	if !s.started || !s.cfg.ControlledShutdownEnable {
		return
	}
	s.logger.Infof("[KafkaServer id=%d] Starting controlled shutdown", s.cfg.BrokerID)
	if !s.doControlledShutdown(s.cfg.ControlledShutdownMaxRetries) {
		s.logger.Warnf("[KafkaServer id=%d] Proceeding to do an unclean shutdown as all the controlled shutdown attempts failed", s.cfg.BrokerID)
	}
}

// doControlledShutdown makes up to retries attempts, each on the current controller (reconnecting when it moved
// or after an I/O error), and reports whether the controller said this broker leads nothing any more.
func (s *Server) doControlledShutdown(retries int) bool {
	var conn *network.Client
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for remaining := retries; remaining > 0; {
		remaining--
		id, addr, err := s.findController()
		if err != nil {
			s.logger.Infof("[KafkaServer id=%d] %v", s.cfg.BrokerID, err)
		} else {
			if conn != nil && conn.Addr() != addr {
				conn.Close()
				conn = nil
			}
			s.logger.Debugf("[KafkaServer id=%d] Sending controlled shutdown request to controller %d at %s", s.cfg.BrokerID, id, addr)
			done, ioErr := s.sendControlledShutdown(&conn, addr)
			if done {
				return true
			}
			if ioErr != nil {
				s.logger.Warnf("[KafkaServer id=%d] Error during controlled shutdown, possibly because leader movement took longer than "+
					"the configured controller.socket.timeout.ms and/or request.timeout.ms: %v", s.cfg.BrokerID, ioErr)
				if conn != nil {
					conn.Close()
					conn = nil
				}
			}
		}
		if remaining > 0 {
			time.Sleep(s.cfg.ControlledShutdownBackoff)
			s.logger.Infof("[KafkaServer id=%d] Retrying controlled shutdown (%d retries remaining)", s.cfg.BrokerID, remaining)
		}
	}
	return false
}

// sendControlledShutdown makes one attempt; done means the controller answered with no error and no partitions
// left to move.
func (s *Server) sendControlledShutdown(conn **network.Client, addr string) (done bool, ioErr error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ControllerSocketTimeout)
	defer cancel()
	if *conn == nil {
		c, err := network.Dial(ctx, addr, strconv.Itoa(int(s.cfg.BrokerID)))
		if err != nil {
			return false, err
		}
		*conn = c
	}
	req := kmsg.NewPtrControlledShutdownRequest()
	req.SetVersion(controlledShutdownVersion)
	req.BrokerID = s.cfg.BrokerID
	req.BrokerEpoch = s.brokerEpoch.Load()
	start := time.Now()
	kresp, err := (*conn).Request(ctx, req)
	if err != nil {
		return false, err
	}
	resp := kresp.(*kmsg.ControlledShutdownResponse)
	ms := time.Since(start).Milliseconds()
	switch {
	case resp.ErrorCode != 0:
		s.logger.Infof("[KafkaServer id=%d] Controlled shutdown request returned after %dms with error %s",
			s.cfg.BrokerID, ms, errorName(resp.ErrorCode))
	case len(resp.PartitionsRemaining) == 0:
		s.logger.Infof("[KafkaServer id=%d] Controlled shutdown request returned successfully after %dms", s.cfg.BrokerID, ms)
		return true, nil
	default:
		s.logger.Infof("[KafkaServer id=%d] Controlled shutdown request returned after %dms with %d partitions remaining to move",
			s.cfg.BrokerID, ms, len(resp.PartitionsRemaining))
		s.logger.Debugf("[KafkaServer id=%d] Remaining partitions to move during controlled shutdown: %v", s.cfg.BrokerID, resp.PartitionsRemaining)
	}
	return false, nil
}

// findController locates the active controller's inter-broker endpoint: ZooKeeper first (it is never behind),
// the metadata cache if ZooKeeper cannot be read.
func (s *Server) findController() (int32, string, error) {
	listener := s.cfg.InterBrokerListenerName
	id, exists, err := s.zk.GetControllerID()
	if err == nil {
		if !exists {
			return -1, "", fmt.Errorf("No controller registered in ZooKeeper")
		}
		info, ok, err := s.zk.GetBroker(id)
		if err == nil {
			if !ok {
				return -1, "", fmt.Errorf("Broker registration for controller %d is not available in ZooKeeper", id)
			}
			for _, e := range info.Endpoints {
				if e.Listener == listener {
					return id, net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port))), nil
				}
			}
			return -1, "", fmt.Errorf("controller %d has no endpoint for listener %s", id, listener)
		}
	}
	id = s.cache.getControllerID()
	if id < 0 {
		return -1, "", fmt.Errorf("No zk controller present in the metadata cache")
	}
	addr, ok := s.cache.brokerEndpoint(id, listener)
	if !ok {
		return -1, "", fmt.Errorf("Broker registration for controller %d is not available in the metadata cache", id)
	}
	return id, addr, nil
}

// brokerEndpoint is a live broker's host:port on a listener.
func (c *metadataCache) brokerEndpoint(id int32, listener string) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	b, ok := c.brokers[id]
	if !ok {
		return "", false
	}
	ep, ok := b.endpoints[listener]
	if !ok {
		return "", false
	}
	return net.JoinHostPort(ep.host, strconv.Itoa(int(ep.port))), true
}

// errorName is Kafka's enum name for an error code (e.g. NOT_CONTROLLER), as its log lines print.
func errorName(code int16) string {
	if e, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
		return e.Message
	}
	return strconv.Itoa(int(code))
}
