"""Secrets: generation, PostgreSQL MD5 hashing as `gitlab-ctl pg-password-md5`, 0600 storage.

- `catalog`  — the ordered list of every secret the cluster needs (`SECRETS`).
- `generate` — strong random values from the stdlib `secrets` module.
- `hashing`  — `pg_md5(password, username)`, the hash Omnibus wants in `gitlab.rb`.
- `store`    — `SecretStore`: the 0600 JSON file, with environment variables overriding it.

Nothing here ever prints or logs a value; errors name the file, the secret or the env var only.
"""
