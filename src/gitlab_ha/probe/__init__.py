"""Status collectors, one per component: each reads the live endpoints (Consul, Patroni's REST API,
Redis and Sentinel, PgBouncer's admin console, HAProxy's stats) and turns what it read into a
`Component` with a verdict, through a pure parse function that tests feed with recorded output."""
