"""Secrets: generation, PostgreSQL MD5 hashing as `gitlab-ctl pg-password-md5`, 0600 storage."""
