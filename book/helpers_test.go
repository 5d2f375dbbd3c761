package book

import (
	"hash/crc32"

	"github.com/shopspring/decimal"
)

func crcOf(s string) int32 { return int32(crc32.ChecksumIEEE([]byte(s))) }

func decimalInt(i int) decimal.Decimal { return decimal.NewFromInt(int64(i)) }
