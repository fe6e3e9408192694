package network

import (
	"reflect"
	"testing"
)

func TestParseListeners(t *testing.T) {
	tests := []struct {
		in      string
		want    []Listener
		wantErr bool
	}{
		{in: "PLAINTEXT://:9092", want: []Listener{{Name: "PLAINTEXT", Port: 9092}}},
		{
			in: "PLAINTEXT://:9092,INTERNAL://127.0.0.1:9093",
			want: []Listener{
				{Name: "PLAINTEXT", Port: 9092},
				{Name: "INTERNAL", Host: "127.0.0.1", Port: 9093},
			},
		},
		{in: " plaintext://localhost:0 ", want: []Listener{{Name: "PLAINTEXT", Host: "localhost", Port: 0}}},
		{in: "EXTERNAL://[::1]:9094", want: []Listener{{Name: "EXTERNAL", Host: "::1", Port: 9094}}},
		{in: "A://0.0.0.0:1,B://0.0.0.0:0,C://0.0.0.0:0", want: []Listener{
			{Name: "A", Host: "0.0.0.0", Port: 1}, {Name: "B", Host: "0.0.0.0"}, {Name: "C", Host: "0.0.0.0"},
		}},
		{in: "", wantErr: true},
		{in: "PLAINTEXT:9092", wantErr: true},
		{in: "://:9092", wantErr: true},
		{in: "PLAINTEXT://:abc", wantErr: true},
		{in: "PLAINTEXT://:70000", wantErr: true},
		{in: "PLAINTEXT://:-1", wantErr: true},
		{in: "PLAINTEXT://::1:9092", wantErr: true},
		{in: "PLAIN TEXT://:9092", wantErr: true},
		{in: "PLAINTEXT://:9092,plaintext://:9093", wantErr: true},
		{in: "A://h:9092,B://h:9092", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseListeners(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseListeners(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseListeners(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestListenerString(t *testing.T) {
	tests := []struct {
		l    Listener
		want string
	}{
		{Listener{Name: "PLAINTEXT", Port: 9092}, "PLAINTEXT://:9092"},
		{Listener{Name: "X", Host: "::1", Port: 1}, "X://[::1]:1"},
	}
	for _, tt := range tests {
		if got := tt.l.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.l, got, tt.want)
		}
		back, err := ParseListeners(tt.want)
		if err != nil || len(back) != 1 || back[0] != tt.l {
			t.Errorf("ParseListeners(%q) = %+v, %v; want %+v", tt.want, back, err, tt.l)
		}
	}
}
