package broker

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/controller"
	"github.com/zkafka/zkafka/network"
)

// TestControllerOnlyAPIsOnOtherBrokers checks that a broker which is not the active controller answers the
// controller-only APIs at once with NOT_CONTROLLER and no message, without calling the controller.
func TestControllerOnlyAPIsOnOtherBrokers(t *testing.T) {
	s := &Server{cfg: &Config{}, ctrl: controller.New(controller.Config{})}
	tests := []struct {
		name   string
		handle func(*Server, context.Context, *network.Request, respondFunc)
		req    kmsg.Request
		code   func(kmsg.Response) (int16, *string)
	}{
		{"AlterPartitionReassignments", (*Server).handleAlterPartitionReassignments, kmsg.NewPtrAlterPartitionAssignmentsRequest(),
			func(r kmsg.Response) (int16, *string) {
				resp := r.(*kmsg.AlterPartitionAssignmentsResponse)
				return resp.ErrorCode, resp.ErrorMessage
			}},
		{"ListPartitionReassignments", (*Server).handleListPartitionReassignments, kmsg.NewPtrListPartitionReassignmentsRequest(),
			func(r kmsg.Response) (int16, *string) {
				resp := r.(*kmsg.ListPartitionReassignmentsResponse)
				return resp.ErrorCode, resp.ErrorMessage
			}},
		{"ControlledShutdown", (*Server).handleControlledShutdown, kmsg.NewPtrControlledShutdownRequest(),
			func(r kmsg.Response) (int16, *string) {
				return r.(*kmsg.ControlledShutdownResponse).ErrorCode, nil
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []kmsg.Response
			tt.handle(s, context.Background(), &network.Request{Body: tt.req}, func(r kmsg.Response) { got = append(got, r) })
			if len(got) != 1 {
				t.Fatalf("%d responses before the handler returned, want 1", len(got))
			}
			if code, msg := tt.code(got[0]); code != kerr.NotController.Code || msg != nil {
				t.Errorf("error code %d message %v, want NOT_CONTROLLER without a message", code, msg)
			}
		})
	}
}

func TestSetTopLevelError(t *testing.T) {
	tests := []struct {
		name string
		code int16
		err  error
		msg  string // "" for none
	}{
		{"not the controller", kerr.NotController.Code, nil, ""},
		{"controller resigned", kerr.NotController.Code, fmt.Errorf("call: %w", controller.ErrNotController), ""},
		{"other failure", kerr.UnknownServerError.Code, errors.New("boom"), "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var code int16
			var msg *string
			setTopLevelError(&code, &msg, tt.code, tt.err)
			got := ""
			if msg != nil {
				got = *msg
			}
			if code != tt.code || got != tt.msg {
				t.Errorf("code %d message %q, want %d %q", code, got, tt.code, tt.msg)
			}
		})
	}
}
