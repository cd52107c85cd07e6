"""`python -m gitlab_ha.lab.enter PROCS [--user NAME [--home DIR]] -- ARGV…`: join a lab node's cgroup,
drop to a user (HOME: DIR, the node's own home for that account, as Omnibus gives gitlab-psql
/var/opt/gitlab/postgresql), then become ARGV. Every lab program is started through this, so its packets leave from its
node's address (lab/network.py). Runs as root until the exec; never forks.
"""

from __future__ import annotations

import os
import pwd
import sys


def main(args: list[str]) -> int:
    if "--" not in args or not args:
        sys.stderr.write("usage: python -m gitlab_ha.lab.enter CGROUP_PROCS [--user NAME] -- ARGV...\n")
        return 2
    split = args.index("--")
    head, argv = args[:split], args[split + 1 :]
    if not head or not argv:
        sys.stderr.write("lab.enter: a cgroup.procs path and a command are needed\n")
        return 2
    procs, user, home = head[0], None, None
    rest = head[1:]
    while rest:
        if len(rest) >= 2 and rest[0] in ("--user", "--home"):
            if rest[0] == "--user":
                user = rest[1]
            else:
                home = rest[1]
            rest = rest[2:]
        else:
            sys.stderr.write(f"lab.enter: unexpected arguments {rest}\n")
            return 2
    with open(procs, "w", encoding="ascii") as handle:
        handle.write(str(os.getpid()))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.initgroups(user, entry.pw_gid)
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
        os.environ.update({"HOME": home or entry.pw_dir, "USER": user, "LOGNAME": user})
    try:
        os.execvp(argv[0], argv)
    except OSError as err:
        sys.stderr.write(f"lab.enter: cannot run {argv[0]}: {err.strerror}\n")
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
