package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// defaultAPITimeout bounds each admin operation, like the Java admin
// client's default.api.timeout.ms.
const defaultAPITimeout = 60 * time.Second

// newClient builds a kgo client from a bootstrap list and Java-style client
// properties, printing warnings for properties it cannot honour.
func newClient(bootstrap string, props map[string]string, role clientRole, stderr io.Writer, extra ...kgo.Opt) (*kgo.Client, error) {
	props = mergeProps(props)
	if bootstrap != "" {
		props["bootstrap.servers"] = bootstrap
	}
	if strings.TrimSpace(props["bootstrap.servers"]) == "" {
		return nil, errors.New("No resolvable bootstrap urls given in bootstrap.servers")
	}
	opts, warns, err := clientOptions(props, role)
	if err != nil {
		return nil, err
	}
	for _, w := range warns {
		fmt.Fprintln(stderr, w)
	}
	return kgo.NewClient(append(opts, extra...)...)
}

// kafkaErrorMessage renders a protocol error as the Java client's
// exception message would: the broker's message when it sent one, else
// the error's standard description.
func kafkaErrorMessage(code int16, msg *string) string {
	if msg != nil && *msg != "" {
		return *msg
	}
	err := kerr.ErrorForCode(code)
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Description
	}
	return err.Error()
}

// errorMessage renders a client-side error for printing.
func errorMessage(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Description
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "Timed out waiting for a node assignment."
	}
	return err.Error()
}

// commandConfig loads the properties of --command-config; without the flag there are none.
func commandConfig(fs *flagSet) (map[string]string, error) {
	if f := fs.get("command-config", ""); f != "" {
		return loadProps(f)
	}
	return map[string]string{}, nil
}

// adminClient connects the admin tools (kafka-topics, kafka-broker-api-versions, ...) to --bootstrap-server with
// the properties of --command-config, if given. A non-empty clientID is the tool's own client.id, used when the
// file sets none.
func adminClient(fs *flagSet, clientID string, stderr io.Writer) (*kgo.Client, error) {
	props, err := commandConfig(fs)
	if err != nil {
		return nil, err
	}
	if _, ok := props["client.id"]; !ok && clientID != "" {
		props["client.id"] = clientID
	}
	return newClient(fs.get("bootstrap-server", ""), props, roleAdmin, stderr)
}
