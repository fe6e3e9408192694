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

// adminClient connects the admin tools (kafka-topics, kafka-broker-api-versions) to --bootstrap-server with the
// properties of --command-config, if given.
func adminClient(fs *flagSet, stderr io.Writer) (*kgo.Client, error) {
	props := map[string]string{}
	if f := fs.get("command-config", ""); f != "" {
		p, err := loadProps(f)
		if err != nil {
			return nil, err
		}
		props = p
	}
	return newClient(fs.get("bootstrap-server", ""), props, roleAdmin, stderr)
}
