package admin

import (
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// recordFormatter is Kafka's DefaultMessageFormatter: optional timestamp,
// partition, offset, headers and key columns before the value, separated
// by key.separator, each record ending with line.separator.
type recordFormatter struct {
	printTimestamp, printKey, printValue, printPartition, printOffset, printHeaders bool

	keySep, lineSep, headersSep, nullLiteral string
}

func newRecordFormatter(props map[string]string) *recordFormatter {
	f := &recordFormatter{printValue: true, keySep: "\t", lineSep: "\n", headersSep: ",", nullLiteral: "null"}
	boolProp := func(k string, dst *bool) {
		if v, ok := props[k]; ok {
			*dst = strings.EqualFold(strings.TrimSpace(v), "true")
		}
	}
	strProp := func(k string, dst *string) {
		if v, ok := props[k]; ok {
			*dst = v
		}
	}
	boolProp("print.timestamp", &f.printTimestamp)
	boolProp("print.key", &f.printKey)
	boolProp("print.offset", &f.printOffset)
	boolProp("print.partition", &f.printPartition)
	boolProp("print.headers", &f.printHeaders)
	boolProp("print.value", &f.printValue)
	strProp("key.separator", &f.keySep)
	strProp("line.separator", &f.lineSep)
	strProp("headers.separator", &f.headersSep)
	strProp("null.literal", &f.nullLiteral)
	return f
}

// timestampTypeName names a record's timestamp type as Java's
// TimestampType.toString does.
func timestampTypeName(r *kgo.Record) string {
	switch r.Attrs.TimestampType() {
	case 0:
		return "CreateTime"
	case 1:
		return "LogAppendTime"
	}
	return ""
}

// appendRecord appends one formatted record to buf.
func (f *recordFormatter) appendRecord(buf []byte, r *kgo.Record) []byte {
	sep := func(column bool) {
		if column {
			buf = append(buf, f.keySep...)
		} else {
			buf = append(buf, f.lineSep...)
		}
	}
	bytesOrNull := func(b []byte) {
		if b == nil {
			buf = append(buf, f.nullLiteral...)
		} else {
			buf = append(buf, b...)
		}
	}
	if f.printTimestamp {
		if tt := timestampTypeName(r); tt != "" {
			buf = append(buf, tt...)
			buf = append(buf, ':')
			buf = strconv.AppendInt(buf, r.Timestamp.UnixMilli(), 10)
		} else {
			buf = append(buf, "NO_TIMESTAMP"...)
		}
		sep(f.printOffset || f.printPartition || f.printHeaders || f.printKey || f.printValue)
	}
	if f.printPartition {
		buf = append(buf, "Partition:"...)
		buf = strconv.AppendInt(buf, int64(r.Partition), 10)
		sep(f.printOffset || f.printHeaders || f.printKey || f.printValue)
	}
	if f.printOffset {
		buf = append(buf, "Offset:"...)
		buf = strconv.AppendInt(buf, r.Offset, 10)
		sep(f.printHeaders || f.printKey || f.printValue)
	}
	if f.printHeaders {
		if len(r.Headers) == 0 {
			buf = append(buf, "NO_HEADERS"...)
		}
		for i, h := range r.Headers {
			buf = append(buf, h.Key...)
			buf = append(buf, ':')
			bytesOrNull(h.Value)
			if i < len(r.Headers)-1 {
				buf = append(buf, f.headersSep...)
			}
		}
		sep(f.printKey || f.printValue)
	}
	if f.printKey {
		bytesOrNull(r.Key)
		sep(f.printValue)
	}
	if f.printValue {
		bytesOrNull(r.Value)
		buf = append(buf, f.lineSep...)
	}
	return buf
}
