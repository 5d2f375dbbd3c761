// Package book keeps local level-2 order books and checks them against the
// exchanges' own consistency rules. It does no I/O.
//
// A Book holds both sides of one instrument's book. Prices are never
// floating point: each level is keyed by its price as a scaled integer (the
// book's scale grows to the most decimal places it has seen), and the
// exchange's exact decimals are kept for output. Each side is a sorted
// array of keys, worst price first and best price last, beside an array of
// slot numbers into a pool of levels: changes near the top of the book,
// where nearly all of them happen, move few keys, and the arrays that move
// hold no pointers.
//
// The sequencing helpers follow the exchanges' documents:
//
//   - OKXSequence and OKXChecksum: OKX v5 books, seqId/prevSeqId continuity
//     and the CRC32 of the top 25 levels (0 means "not provided" since
//     OKX deprecated the field in June 2026).
//   - BinanceSync: Binance spot's documented way to manage a local book
//     from <symbol>@depth and GET /api/v3/depth.
//   - CompareREST: Coinbase Exchange's level2 channel has no sequence
//     numbers; the local book is compared with the REST level-2 book,
//     excusing the levels changed while the request was in flight.
package book
