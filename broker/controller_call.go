package broker

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/zkafka/zkafka/controller"
)

// controllerCall serves a request that only the active controller answers. Any other broker gets failed with
// NOT_CONTROLLER and a nil error at once, so the client looks the controller up and retries there. The active
// controller runs call off the handler pool, because the controller answers from its event goroutine, bounded
// by timeout when it is positive; a failed call reaches failed with the error's Kafka code (the controller's
// sentinels translated here, STYLE habit 11), a successful one goes on to succeeded. failed and succeeded respond.
func (s *Server) controllerCall(ctx context.Context, timeout time.Duration, call func(context.Context) error,
	failed func(code int16, err error), succeeded func()) {
	if !s.ctrl.IsActive() {
		failed(kerr.NotController.Code, nil)
		return
	}
	s.goAttach(func() {
		cctx, cancel := ctx, context.CancelFunc(func() {})
		if timeout > 0 {
			cctx, cancel = context.WithTimeout(ctx, timeout)
		}
		err := call(cctx)
		cancel()
		if err != nil {
			failed(controllerErrorCode(err), err)
			return
		}
		succeeded()
	})
}

// setTopLevelError fills a response's top-level error: the code, and the error's text unless the controller
// resigned meanwhile (NOT_CONTROLLER goes without a message, as from a broker that never was the controller).
func setTopLevelError(code *int16, msg **string, c int16, err error) {
	*code = c
	if err != nil && !errors.Is(err, controller.ErrNotController) {
		*msg = errMessage(err)
	}
}
