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

// pipelineDepth bounds the requests one batched read or write keeps in flight on the connection.
const pipelineDepth = 64

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
