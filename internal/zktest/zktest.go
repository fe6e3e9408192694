// Package zktest runs a real ZooKeeper server (Debian's `zookeeper` package, started with the JVM exactly as
// scripts/zookeeper-server-start.sh does) for tests: one server per test package, a chroot per test.
// It never fakes ZooKeeper; when the package is missing it fails with the command that installs it.
package zktest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Classpath is where Debian's zookeeper package puts the server and its configuration directory.
const Classpath = "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar"

// MainClass is ZooKeeper's server entry point, as in Kafka's zookeeper-server-start.sh.
const MainClass = "org.apache.zookeeper.server.quorum.QuorumPeerMain"

// Server is one running ZooKeeper process.
type Server struct {
	dir  string
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// Installed reports whether the ZooKeeper package and a JVM are present, and if not, what to run.
func Installed() error {
	if _, err := os.Stat("/usr/share/java/zookeeper.jar"); err != nil {
		return errors.New("ZooKeeper is not installed: run `make deps` (apt-get install -y zookeeper)")
	}
	if _, err := exec.LookPath("java"); err != nil {
		return errors.New("java is not installed: run `make deps` (apt-get install -y zookeeper pulls in a JVM)")
	}
	return nil
}

// Start launches ZooKeeper on a free 127.0.0.1 port with its data under dir and waits until it accepts connections.
func Start(dir string) (*Server, error) {
	if err := Installed(); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	dataDir := filepath.Join(dir, "data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf("dataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\nmaxClientCnxns=0\n"+
		"admin.enableServer=false\ntickTime=500\nminSessionTimeout=1000\nmaxSessionTimeout=60000\n"+
		"4lw.commands.whitelist=*\n", dataDir, port)
	cfgPath := filepath.Join(dir, "zookeeper.properties")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "zookeeper.out"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-Dzookeeper.log.dir="+dir, "-cp", Classpath, MainClass, cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The server must not outlive the test binary, even when the binary is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start ZooKeeper: %w", err)
	}
	s := &Server{dir: dir, addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(s.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if ruok(s.addr) {
			return s, nil
		}
		select {
		case <-s.done:
			out, _ := os.ReadFile(filepath.Join(dir, "zookeeper.out"))
			return nil, fmt.Errorf("ZooKeeper exited during start-up:\n%s", Tail(string(out), 2000))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, errors.New("ZooKeeper did not start within 60s")
		}
	}
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return s.addr }

// Stop kills the server and waits for it to exit.
func (s *Server) Stop() {
	if s.cmd.Process != nil {
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	}
	<-s.done
}

// ruok asks the "srvr" four-letter word: unlike "ruok" (which answers imok as soon as the port is open), it
// reports server details only once the server is actually serving sessions.
func ruok(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("srvr")); err != nil {
		return false
	}
	buf := make([]byte, 64)
	n, _ := io.ReadAtLeast(c, buf, len("Zookeeper version"))
	return strings.HasPrefix(string(buf[:n]), "Zookeeper version")
}

// FreePort returns a port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Tail is the last n bytes of s, for quoting process logs in errors.
func Tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

var shared *Server

// Main runs a test package against one shared ZooKeeper: call it from TestMain as os.Exit(zktest.Main(m)).
func Main(m *testing.M) int {
	dir, err := os.MkdirTemp("", "zktest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	s, err := Start(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "zktest:", err)
		return 1
	}
	shared = s
	defer s.Stop()
	return m.Run()
}

// Addr is the shared server's host:port (Main must be running).
func Addr() string {
	if shared == nil {
		panic("zktest: no shared ZooKeeper; call zktest.Main from TestMain")
	}
	return shared.addr
}

var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9_-]+`)

// Connect returns a zookeeper.connect string with a fresh chroot for this test on the shared server.
func Connect(t testing.TB) string {
	var b [4]byte
	rand.Read(b[:])
	name := strings.ToLower(unsafeChars.ReplaceAllString(t.Name(), "-"))
	if len(name) > 60 {
		name = name[:60]
	}
	return fmt.Sprintf("%s/test-%s-%s", Addr(), name, hex.EncodeToString(b[:]))
}
