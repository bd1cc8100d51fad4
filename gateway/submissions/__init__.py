"""What every submission to a provider shares, orders and returns alike: the idempotent
submit, leases, the driver (phases, backoff, refusals, the request's budget), the problems
it answers with, list pages."""
