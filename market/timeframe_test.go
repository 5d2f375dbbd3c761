package market

import (
	"testing"
	"time"
)

// TestTimeframeDuration checks the length of every known timeframe, and
// that an unknown one has none.
func TestTimeframeDuration(t *testing.T) {
	tests := []struct {
		tf    Timeframe
		want  time.Duration
		known bool
	}{
		{TF1m, time.Minute, true},
		{TF3m, 3 * time.Minute, true},
		{TF5m, 5 * time.Minute, true},
		{TF15m, 15 * time.Minute, true},
		{TF30m, 30 * time.Minute, true},
		{TF1h, time.Hour, true},
		{TF2h, 2 * time.Hour, true},
		{TF4h, 4 * time.Hour, true},
		{TF6h, 6 * time.Hour, true},
		{TF12h, 12 * time.Hour, true},
		{TF1d, 24 * time.Hour, true},
		{TF1w, 7 * 24 * time.Hour, true},
		{"2m", 0, false},
		{"1M", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.tf), func(t *testing.T) {
			if got := tt.tf.Duration(); got != tt.want {
				t.Errorf("Duration = %s, want %s", got, tt.want)
			}
			if got := tt.tf.Known(); got != tt.known {
				t.Errorf("Known = %v, want %v", got, tt.known)
			}
		})
	}
	if n := len(Timeframes()); n != 12 {
		t.Errorf("%d timeframes listed, the table has 12", n)
	}
}
