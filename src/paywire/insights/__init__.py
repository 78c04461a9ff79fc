"""The operator's metrics, read from paywire's own tables: revenue from the ledger
(`revenue`), payments and dunning from the mirror's invoices and orders (`payments`), webhook
health from the inbox and open disputes from the mirror (`webhooks`), over a window of days or months
(`windows`), put together by `report` for the API, `paywire metrics` and `/admin`; and the
business gauges of `/metrics` (`gauges`). Each module defines its figures next to them."""
