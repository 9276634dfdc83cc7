"""The pages of the markets' surfaces: sales, the regulator's trace, dashboard, alerts and
recall, and the home page. The top page layer: it may use `batches.web` (the page frame) and
`warehouse.web`, never the other way round (docs/architecture.md)."""
