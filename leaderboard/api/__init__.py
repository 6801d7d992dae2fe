"""The JSON API, DRF's front door: one view per operation, each validates its input, calls a service or
selector and serializes the answer. Auth, throttles, errors, the schema and the URLs live beside them."""
