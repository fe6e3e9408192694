package zkutils

import (
	"errors"
	"path"
	"sort"
	"sync"

	"github.com/go-zookeeper/zk"
)

// The helpers below take chroot-relative paths and return our errors.

var openACL = zk.WorldACL(zk.PermAll)

func (c *client) get(p string) ([]byte, *zk.Stat, error) {
	data, st, err := c.conn.Get(c.abs(p))
	return data, st, mapErr("get", p, err)
}

func (c *client) exists(p string) (bool, *zk.Stat, error) {
	ok, st, err := c.conn.Exists(c.abs(p))
	return ok, st, mapErr("exists", p, err)
}

func (c *client) children(p string) ([]string, error) {
	ch, _, err := c.conn.Children(c.abs(p))
	sort.Strings(ch)
	return ch, mapErr("children", p, err)
}

// childrenW lists p's children sorted and sets a child watch. A missing p yields no children and an exists
// watch, so the owner hears when it appears.
func (c *client) childrenW(p string) ([]string, Watch, error) {
	for {
		ch, _, ev, err := c.conn.ChildrenW(c.abs(p))
		if err == nil {
			sort.Strings(ch)
			return ch, c.newWatch(ev), nil
		}
		if !errors.Is(err, zk.ErrNoNode) {
			return nil, nil, mapErr("children", p, err)
		}
		ok, _, ev, err := c.conn.ExistsW(c.abs(p))
		if err != nil {
			return nil, nil, mapErr("exists", p, err)
		}
		if !ok {
			return nil, c.newWatch(ev), nil
		}
		// Created in between: the exists watch will fire on its next change; list again with a child watch.
	}
}

// getW reads p and sets a data watch; a missing p yields found=false and an exists watch.
func (c *client) getW(p string) (data []byte, st *zk.Stat, found bool, w Watch, err error) {
	for {
		data, st, ev, err := c.conn.GetW(c.abs(p))
		if err == nil {
			return data, st, true, c.newWatch(ev), nil
		}
		if !errors.Is(err, zk.ErrNoNode) {
			return nil, nil, false, nil, mapErr("get", p, err)
		}
		ok, _, ev, err := c.conn.ExistsW(c.abs(p))
		if err != nil {
			return nil, nil, false, nil, mapErr("exists", p, err)
		}
		if !ok {
			return nil, nil, false, c.newWatch(ev), nil
		}
	}
}

func (c *client) create(p string, data []byte, flags int32) (string, error) {
	created, err := c.conn.Create(c.abs(p), data, flags, openACL)
	return created[min(len(c.chroot), len(created)):], mapErr("create", p, err)
}

// createRecursive creates p, creating missing parents empty, as Kafka's createRecursive does. relative says
// whether p is chroot-relative (false only for the chroot itself). NODEEXISTS on p is returned.
func (c *client) createRecursive(p string, data []byte, flags int32, relative ...bool) error {
	full := p
	if len(relative) == 0 || relative[0] {
		full = c.abs(p)
	}
	_, err := c.conn.Create(full, data, flags, openACL)
	if errors.Is(err, zk.ErrNoNode) {
		if err := c.ensureAbs(path.Dir(full)); err != nil {
			return err
		}
		_, err = c.conn.Create(full, data, flags, openACL)
	}
	return mapErr("create", p, err)
}

// ensureAbs makes an absolute path exist, creating missing ancestors empty.
func (c *client) ensureAbs(full string) error {
	if full == "/" || full == "" {
		return nil
	}
	_, err := c.conn.Create(full, nil, 0, openACL)
	if errors.Is(err, zk.ErrNoNode) {
		if err := c.ensureAbs(path.Dir(full)); err != nil {
			return err
		}
		_, err = c.conn.Create(full, nil, 0, openACL)
	}
	if err == nil || errors.Is(err, zk.ErrNodeExists) {
		return nil
	}
	return mapErr("create", full, err)
}

// realMultiErr picks the error that made a multi fail: ops other than the culprit report OK or
// RUNTIMEINCONSISTENCY (which go-zookeeper renders as an unknown error).
func realMultiErr(res []zk.MultiResponse, err error) (int, error) {
	known := []error{zk.ErrNoNode, zk.ErrNodeExists, zk.ErrBadVersion, zk.ErrNotEmpty,
		zk.ErrNoChildrenForEphemerals, zk.ErrNoAuth, zk.ErrInvalidACL, zk.ErrSessionExpired}
	for i, r := range res {
		for _, k := range known {
			if errors.Is(r.Error, k) {
				return i, r.Error
			}
		}
	}
	return -1, err
}

// multi runs ops (whose paths are already absolute) atomically; on failure it returns the index of the failing
// op and its error.
func (c *client) multi(ops ...any) ([]zk.MultiResponse, int, error) {
	res, err := c.conn.Multi(ops...)
	if err == nil {
		return res, -1, nil
	}
	i, e := realMultiErr(res, err)
	return res, i, e
}

// fenced runs ops (absolute paths) in a multi behind check(/controller_epoch, epochZkVersion), Kafka's
// wrapRequestWithControllerEpochCheck. It returns the ops' own results. A failed check is ErrControllerMoved.
func (c *client) fenced(epochZkVersion int32, what string, ops ...any) ([]zk.MultiResponse, error) {
	all := make([]any, 0, len(ops)+1)
	all = append(all, &zk.CheckVersionRequest{Path: c.abs(controllerEpochPath), Version: epochZkVersion})
	all = append(all, ops...)
	res, i, err := c.multi(all...)
	if err == nil {
		return res[1:], nil
	}
	if i == 0 {
		return nil, ErrControllerMoved
	}
	return nil, mapErr("fenced multi", what, err)
}

func (c *client) fencedCreate(epochZkVersion int32, p string, data []byte) error {
	_, err := c.fenced(epochZkVersion, p, &zk.CreateRequest{Path: c.abs(p), Data: data, Acl: openACL})
	return err
}

func (c *client) fencedSet(epochZkVersion int32, p string, data []byte, version int32) (*zk.Stat, error) {
	res, err := c.fenced(epochZkVersion, p, &zk.SetDataRequest{Path: c.abs(p), Data: data, Version: version})
	if err != nil {
		return nil, err
	}
	return res[0].Stat, nil
}

// fencedDelete deletes p (any version); a missing p is not an error.
func (c *client) fencedDelete(epochZkVersion int32, p string) error {
	_, err := c.fenced(epochZkVersion, p, &zk.DeleteRequest{Path: c.abs(p), Version: -1})
	if errors.Is(err, ErrNoNode) {
		return nil
	}
	return err
}

// pipelineDepth bounds the requests one batched read or write keeps in flight on the connection. ZooKeeper
// answers a session's requests in order and group-commits the writes it has queued, so a deep pipeline turns
// thousands of round trips (and fsyncs) into a few.
const pipelineDepth = 512

// parallel runs f(0..n-1) with up to pipelineDepth in flight, so go-zookeeper pipelines the requests on its one
// connection instead of waiting a round trip for each.
func parallel(n int, f func(i int)) {
	if n == 1 {
		f(0)
		return
	}
	sem := make(chan struct{}, pipelineDepth)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}(i)
	}
	wg.Wait()
}

// multiChunk is how many ops one batched fenced multi carries. A few hundred small znode writes stay far below
// jute.maxbuffer (1 MB) and are one transaction, one log append, for ZooKeeper.
const multiChunk = 200

// fencedGroups writes groups of ops (absolute paths), each group atomic and behind the /controller_epoch check,
// as Kafka's wrapRequestWithControllerEpochCheck does for every write. Consecutive groups share a multi, the
// multis are pipelined. A multi that fails for any reason other than the fence is split up: each of its groups
// goes again alone, so one conflicting znode (BADVERSION, NODEEXISTS) fails only its own group. res[i] holds
// group i's results when errs[i] is nil. A failed fence is reported as moved, with no per-group results.
func (c *client) fencedGroups(epochZkVersion int32, what string, groups [][]any) (res [][]zk.MultiResponse, errs []error, moved bool) {
	res = make([][]zk.MultiResponse, len(groups))
	errs = make([]error, len(groups))
	type chunk struct{ from, to int }
	var chunks []chunk
	for from := 0; from < len(groups); {
		to, n := from, 0
		for to < len(groups) && (to == from || n+len(groups[to]) <= multiChunk) {
			n += len(groups[to])
			to++
		}
		chunks = append(chunks, chunk{from, to})
		from = to
	}
	var mu sync.Mutex
	alone := []int{}
	parallel(len(chunks), func(k int) {
		ch := chunks[k]
		var ops []any
		for _, g := range groups[ch.from:ch.to] {
			ops = append(ops, g...)
		}
		out, err := c.fenced(epochZkVersion, what, ops...)
		if err == nil {
			for i := ch.from; i < ch.to; i++ {
				n := len(groups[i])
				res[i], out = out[:n:n], out[n:]
			}
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if errors.Is(err, ErrControllerMoved) {
			moved = true
			return
		}
		if ch.to-ch.from == 1 {
			errs[ch.from] = err // it went alone already
			return
		}
		for i := ch.from; i < ch.to; i++ {
			alone = append(alone, i)
		}
	})
	if moved {
		return nil, nil, true
	}
	if len(alone) == 0 {
		return res, errs, false
	}
	parallel(len(alone), func(k int) {
		i := alone[k]
		res[i], errs[i] = c.fenced(epochZkVersion, what, groups[i]...)
	})
	for _, e := range errs {
		if errors.Is(e, ErrControllerMoved) {
			return nil, nil, true
		}
	}
	return res, errs, false
}
