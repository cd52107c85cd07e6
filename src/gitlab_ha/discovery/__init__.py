"""A Consul-compatible discovery agent: catalog, checks, KV, sessions, HTTP API, DNS, watches."""
