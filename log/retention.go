package log

import "errors"

// IncrementLogStartOffset moves the log start forward (DeleteRecords).
func (l *Log) IncrementLogStartOffset(offset int64) error {
	return errors.New("log: IncrementLogStartOffset not implemented yet")
}

// DeleteOldSegments applies retention.ms, retention.bytes and the log start.
func (l *Log) DeleteOldSegments() (int, error) {
	return 0, errors.New("log: DeleteOldSegments not implemented yet")
}
