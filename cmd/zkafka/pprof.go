package main

import (
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on http.DefaultServeMux, served only when asked for below
	"os"
)

// ZKAFKA_PPROF=1 serves net/http/pprof on a free 127.0.0.1 port and prints its address to stderr (the broker's
// server.log under testcluster), so scale runs can profile broker processes. Off by default: it is a test aid,
// not an operator feature.
func init() {
	if os.Getenv("ZKAFKA_PPROF") != "1" {
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(os.Stderr, "pprof: %v\n", err)
		return
	}
	fmt.Fprintf(os.Stderr, "pprof listening on http://%s/debug/pprof/\n", ln.Addr())
	go http.Serve(ln, nil)
}
