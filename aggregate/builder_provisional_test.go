package aggregate

import (
	"testing"

	"marketetl/market"
)

// TestProvisionalBuckets checks which candles close as closed (their bucket
// was seen from its open time, without an interruption) and which as
// provisional (joined mid-way, or interrupted).
func TestProvisionalBuckets(t *testing.T) {
	oneMin := []market.Timeframe{market.TF1m}
	tests := []struct {
		name  string
		tfs   []market.Timeframe
		steps []step
		// interruptBefore is the step before which Interrupt is called
		// (-1: never).
		interruptBefore int
	}{
		{
			name: "the first bucket, joined mid-way, is provisional; the next one is closed", tfs: oneMin, interruptBefore: -1,
			steps: []step{
				{trade: trade(30000, "10", "1"), want: []string{"1m 10:00 10/10/10/10 v1 q10 n1 forming rcv00:30.001"}},
				{trade: trade(61000, "11", "1"), want: []string{
					"1m 10:00 10/10/10/10 v1 q10 n1 provisional rcv01:01.001",
					"1m 10:01 11/11/11/11 v1 q11 n1 forming rcv01:01.001",
				}},
				{advance: at(120000), want: []string{"1m 10:01 11/11/11/11 v1 q11 n1 closed rcv02:00.000"}},
			},
		},
		{
			name: "a first trade at the bucket's open time still joins it mid-way", tfs: oneMin, interruptBefore: -1,
			steps: []step{
				{trade: trade(0, "10", "1"), want: []string{"1m 10:00 10/10/10/10 v1 q10 n1 forming rcv00:00.001"}},
				{advance: at(60000), want: []string{"1m 10:00 10/10/10/10 v1 q10 n1 provisional rcv01:00.000"}},
			},
		},
		{
			name: "a heartbeat before the bucket opens makes it seen from its start", tfs: oneMin, interruptBefore: -1,
			steps: []step{
				{advance: at(-5000)},
				{trade: trade(30000, "10", "1"), want: []string{"1m 10:00 10/10/10/10 v1 q10 n1 forming rcv00:30.001"}},
				{advance: at(60000), want: []string{"1m 10:00 10/10/10/10 v1 q10 n1 closed rcv01:00.000"}},
			},
		},
		{
			name: "an interruption makes the candle being built and the next trade's bucket provisional", tfs: oneMin, interruptBefore: 2,
			steps: []step{
				{advance: at(-5000)},
				{trade: trade(10000, "10", "1"), want: []string{"1m 10:00 10/10/10/10 v1 q10 n1 forming rcv00:10.001"}},
				// Interrupt, then the first trade after the reconnect.
				{trade: trade(70000, "11", "1"), want: []string{
					"1m 10:00 10/10/10/10 v1 q10 n1 provisional rcv01:10.001",
					"1m 10:01 11/11/11/11 v1 q11 n1 forming rcv01:10.001",
				}},
				{trade: trade(130000, "12", "1"), want: []string{
					"1m 10:01 11/11/11/11 v1 q11 n1 provisional rcv02:10.001",
					"1m 10:02 12/12/12/12 v1 q12 n1 forming rcv02:10.001",
				}},
				{advance: at(180000), want: []string{"1m 10:02 12/12/12/12 v1 q12 n1 closed rcv03:00.000"}},
			},
		},
		{
			name: "after an interruption, a heartbeat before the next bucket opens makes that bucket complete", tfs: oneMin, interruptBefore: 2,
			steps: []step{
				{advance: at(-5000)},
				{trade: trade(10000, "10", "1"), want: []string{"1m 10:00 10/10/10/10 v1 q10 n1 forming rcv00:10.001"}},
				{advance: at(59000)},
				{trade: trade(61000, "11", "1"), want: []string{
					"1m 10:00 10/10/10/10 v1 q10 n1 provisional rcv01:01.001",
					"1m 10:01 11/11/11/11 v1 q11 n1 forming rcv01:01.001",
				}},
				{advance: at(120000), want: []string{"1m 10:01 11/11/11/11 v1 q11 n1 closed rcv02:00.000"}},
			},
		},
		{
			name: "an interruption inside a longer bucket leaves the shorter ones after it complete", tfs: []market.Timeframe{market.TF1m, market.TF5m}, interruptBefore: 2,
			steps: []step{
				{advance: at(-5000)},
				{trade: trade(10000, "10", "1"), want: []string{
					"1m 10:00 10/10/10/10 v1 q10 n1 forming rcv00:10.001",
					"5m 10:00 10/10/10/10 v1 q10 n1 forming rcv00:10.001",
				}},
				{advance: at(30000)},
				{trade: trade(65000, "11", "1"), want: []string{
					"1m 10:00 10/10/10/10 v1 q10 n1 provisional rcv01:05.001",
					"1m 10:01 11/11/11/11 v1 q11 n1 forming rcv01:05.001",
					"5m 10:00 10/11/10/11 v2 q21 n2 forming rcv01:05.001",
				}},
				{advance: at(300000), want: []string{
					"1m 10:01 11/11/11/11 v1 q11 n1 closed rcv05:00.000",
					"5m 10:00 10/11/10/11 v2 q21 n2 provisional rcv05:00.000",
				}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(market.Coinbase, "BTC-USD", tc.tfs, Config{FormingEvery: EveryTrade})
			if err != nil {
				t.Fatal(err)
			}
			if tc.interruptBefore < 0 {
				run(t, b, tc.steps)
				return
			}
			run(t, b, tc.steps[:tc.interruptBefore])
			b.Interrupt()
			run(t, b, tc.steps[tc.interruptBefore:])
		})
	}
}
