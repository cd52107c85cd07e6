"""The sshd snippet Rails nodes need so that `git` over SSH authenticates through GitLab."""

from __future__ import annotations

AUTHORIZED_KEYS_CHECK = "/opt/gitlab/embedded/service/gitlab-shell/bin/gitlab-shell-authorized-keys-check"


def snippet() -> str:
    return (
        "# GitLab: look up the keys of user git in GitLab's database (fast lookup), not in a file.\n"
        "# Append to /etc/ssh/sshd_config (or drop in /etc/ssh/sshd_config.d/), then: sshd -t && systemctl reload sshd\n"
        "Match User git\n"
        f"  AuthorizedKeysCommand {AUTHORIZED_KEYS_CHECK} git %u %k\n"
        "  AuthorizedKeysCommandUser git\n"
        "Match all\n"
    )
