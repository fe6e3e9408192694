package log

import "errors"

// TimestampOffset answers a ListOffsets lookup: the first record at or after
// a timestamp, or one of the special targets (-1 latest, -2 earliest,
// -3 max timestamp).
type TimestampOffset struct {
	Timestamp   int64
	Offset      int64
	LeaderEpoch int32
}

// FetchOffsetByTimestamp is UnifiedLog.fetchOffsetByTimestamp; ok is false
// when no record has a timestamp at or after ts.
func (l *Log) FetchOffsetByTimestamp(ts int64) (TimestampOffset, bool, error) {
	return TimestampOffset{}, false, errors.New("log: FetchOffsetByTimestamp not implemented yet")
}
