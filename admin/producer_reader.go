package admin

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// lineReader turns stdin lines into records as ConsoleProducer's
// LineMessageReader does (parse.key, parse.headers, null.marker, ...).
type lineReader struct {
	topic         string
	parseKey      bool
	keySep        string
	parseHeaders  bool
	headersDelim  string
	headersSep    *regexp.Regexp
	headersKeySep string
	ignoreError   bool
	nullMarker    *string
}

func newLineReader(topic string, props map[string]string) (*lineReader, error) {
	r := &lineReader{topic: topic, keySep: "\t", headersDelim: "\t", headersKeySep: ":"}
	isTrue := func(k string) bool { return strings.EqualFold(strings.TrimSpace(props[k]), "true") }
	r.parseKey = isTrue("parse.key")
	r.parseHeaders = isTrue("parse.headers")
	r.ignoreError = isTrue("ignore.error")
	if v, ok := props["key.separator"]; ok {
		r.keySep = v
	}
	if v, ok := props["headers.delimiter"]; ok {
		r.headersDelim = v
	}
	headersSep := ","
	if v, ok := props["headers.separator"]; ok {
		headersSep = v
	}
	re, err := regexp.Compile(headersSep)
	if err != nil {
		return nil, err
	}
	r.headersSep = re
	if v, ok := props["headers.key.separator"]; ok {
		r.headersKeySep = v
	}
	switch {
	case r.headersDelim == headersSep:
		return nil, errors.New("headers.delimiter and headers.separator may not be equal")
	case r.headersDelim == r.headersKeySep:
		return nil, errors.New("headers.delimiter and headers.key.separator may not be equal")
	case headersSep == r.headersKeySep:
		return nil, errors.New("headers.separator and headers.key.separator may not be equal")
	}
	if v, ok := props["null.marker"]; ok {
		r.nullMarker = &v
		switch v {
		case r.keySep:
			return nil, errors.New("null.marker and key.separator may not be equal")
		case headersSep:
			return nil, errors.New("null.marker and headers.separator may not be equal")
		case r.headersDelim:
			return nil, errors.New("null.marker and headers.delimiter may not be equal")
		case r.headersKeySep:
			return nil, errors.New("null.marker and headers.key.separator may not be equal")
		}
	}
	return r, nil
}

func (r *lineReader) isNull(s string) bool { return r.nullMarker != nil && s == *r.nullMarker }

// field cuts the next field ending at sep from line[start:]; ok is false
// when the field is disabled or missing (and ignore.error is set).
func (r *lineReader) field(enabled bool, line string, start int, sep, what string, lineNo int) (string, bool, error) {
	if !enabled {
		return "", false, nil
	}
	i := strings.Index(line[start:], sep)
	if i < 0 {
		if r.ignoreError {
			return "", false, nil
		}
		return "", false, fmt.Errorf("No %s found on line number %d: '%s'", what, lineNo, line)
	}
	return line[start : start+i], true, nil
}

// parse converts one line (without its terminator) into a record.
func (r *lineReader) parse(line string, lineNo int) (*kgo.Record, error) {
	headers, hasHeaders, err := r.field(r.parseHeaders, line, 0, r.headersDelim, "headers delimiter", lineNo)
	if err != nil {
		return nil, err
	}
	offset := 0
	if hasHeaders {
		offset = len(headers) + len(r.headersDelim)
	}
	key, hasKey, err := r.field(r.parseKey, line, offset, r.keySep, "key separator", lineNo)
	if err != nil {
		return nil, err
	}
	if hasKey {
		offset += len(key) + len(r.keySep)
	}
	rec := &kgo.Record{Topic: r.topic}
	if hasKey && !r.isNull(key) {
		rec.Key = []byte(key)
	}
	if value := line[offset:]; !r.isNull(value) {
		rec.Value = []byte(value)
	}
	if hasHeaders && !r.isNull(headers) {
		for _, pair := range splitJava(r.headersSep, headers) {
			i := strings.Index(pair, r.headersKeySep)
			if i < 0 {
				if !r.ignoreError {
					return nil, fmt.Errorf("No header key separator found in pair '%s' on line number %d", pair, lineNo)
				}
				rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: pair})
				continue
			}
			k, v := pair[:i], pair[i+len(r.headersKeySep):]
			if r.isNull(k) {
				return nil, fmt.Errorf("Header keys should not be equal to the null marker '%s' as they can't be null", k)
			}
			h := kgo.RecordHeader{Key: k}
			if !r.isNull(v) {
				h.Value = []byte(v)
			}
			rec.Headers = append(rec.Headers, h)
		}
	}
	return rec, nil
}

// splitJava splits like Java's Pattern.split: trailing empty strings are
// dropped, and an empty input yields one empty string.
func splitJava(re *regexp.Regexp, s string) []string {
	parts := re.Split(s, -1)
	for len(parts) > 1 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return parts
}
