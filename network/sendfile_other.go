//go:build !linux

package network

import "net"

func sendRegion(nc net.Conn, r FileRegion) error { return copyRegion(nc, r) }
