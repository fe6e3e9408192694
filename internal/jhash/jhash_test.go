package jhash

import "testing"

func TestString(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int32
	}{
		{"", 0},
		{"a", 97},
		{"hello", 99162322},
		{"__consumer_offsets", -970371369},
		{"\U0001F600", 1772899}, // a surrogate pair, as Java sees it
	} {
		if got := String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestAbs(t *testing.T) {
	for in, want := range map[int32]int32{0: 0, 5: 5, -5: 5, -1 << 31: 0, 1<<31 - 1: 1<<31 - 1} {
		if got := Abs(in); got != want {
			t.Errorf("Abs(%d) = %d, want %d", in, got, want)
		}
	}
}
