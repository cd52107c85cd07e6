"""`python -m gitlab_ha` is the same as the `gitlab-ha` command."""

from gitlab_ha.cli.main import run

run()
