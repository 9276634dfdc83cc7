"""The warehouse crew's pages: the scan box, the zone board, release by scanning. Above
`batches.web` (the page frame), below `markets.web` (docs/architecture.md)."""
