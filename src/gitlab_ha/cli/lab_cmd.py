"""`gitlab-ha lab`: run the cluster's HA data tier on this machine, supervised, and operate it."""

from __future__ import annotations

import os
import pwd
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from gitlab_ha.cli.output import console, err_console, fail, sigterm_as_interrupt
from gitlab_ha.cli.status_cmd import run_status
from gitlab_ha.errors import InputError
from gitlab_ha.fsutil import read_user_text
from gitlab_ha.topology.load import load_text
from gitlab_ha.topology.presets import PRESETS, expand
from gitlab_ha.topology.profiles import PROFILES
from gitlab_ha.topology.yaml_out import topology_yaml

if TYPE_CHECKING:
    from gitlab_ha.lab.lab import Lab

# The lab (its supervisor, network, probes) is imported by the commands that use them: `gitlab-ha --help`
# and a mistyped verb import every verb module (cli/commands.py), and should stay quick.

lab_app = typer.Typer(
    name="lab",
    help="Run the cluster's HA data tier (Consul, Redis + Sentinel, Patroni + PostgreSQL, PgBouncer, HAProxy) "
    "for real on this machine, supervised, to rehearse it and its failovers.\n\n"
    "Example: gitlab-ha lab up --preset seed-15 && gitlab-ha lab status",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

SIGNALS = {"KILL": signal.SIGKILL, "STOP": signal.SIGSTOP, "CONT": signal.SIGCONT, "TERM": signal.SIGTERM}


def _dir_option() -> Path:
    option: Path = typer.Option(Path("lab"), "--dir", "-d", help="Lab directory (default ./lab).")
    return option


def _lab(directory: Path, out: Console = console) -> Lab:
    from gitlab_ha.lab.lab import Lab

    lab = Lab(directory)
    out.print(f"lab: {lab.dir}" + (" (default; --dir to choose)" if directory == Path("lab") else ""))
    return lab


@lab_app.command("up")
def up(
    cluster: Path | None = typer.Argument(None, help="Topology file (default: the lab's, or --preset)."),
    preset: str | None = typer.Option(None, "--preset", help=f"A preset instead of a file: {', '.join(PRESETS)}."),
    directory: Path = _dir_option(),
    profile: str = typer.Option(
        "fast", "--profile", help="Failover timing where the topology sets none: fast (the lab's) or omnibus."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the status as JSON at the end."),
) -> None:
    """Render the topology, write each node's files as `gitlab-ctl reconfigure` would, start every runnable
    service under supervisord, wait until `status` is healthy (at most 5 minutes) and print it; exit 1 when
    it is not. A second `up` on a running lab does nothing; Ctrl-C or SIGTERM stops what had started.

    Example: gitlab-ha lab up --preset seed-15 --dir lab/
    """
    say = err_console if json_out else console  # with --json, stdout holds the JSON alone
    lab = _lab(directory, say)
    if cluster is not None and preset is not None:
        fail("give a topology file or --preset, not both")
    if preset is not None:
        if preset not in PRESETS:
            fail(f"unknown preset {preset!r} (presets: {', '.join(PRESETS)})")
        spec = PRESETS[preset]
        text, source = topology_yaml(spec, expand(spec)), f"preset {preset}"
    elif cluster is not None:
        text, source = read_user_text(cluster), str(cluster)
    elif lab.exists():
        text, source = lab.topology_file.read_text(), str(lab.topology_file)
    else:
        fail("name a topology file or --preset (this lab has none yet)")
    if lab.running() and lab.complete():
        say.print("the lab is already up: nothing to do (`gitlab-ha lab status`, or `lab down` first)")
        raise typer.Exit(0)
    if profile not in PROFILES:
        fail(f"--profile {profile}: use {' or '.join(PROFILES)}")
    from gitlab_ha.lab.plan import lab_address

    topo = load_text(text, source).topology
    say.print(f"failover timing: {profile} profile where the topology sets none (--profile fast|omnibus)")
    say.print("each node gets its own loopback address (all of 127/8 is local), keeping the real ports:")
    for node in topo.nodes:
        say.print(f"  {node.name:20} {node.ip:15} → {lab_address(node.address)}")
    # Ctrl-C or SIGTERM: Lab.up stops what it had started, never leaving a half-set-up lab
    try:
        with sigterm_as_interrupt(), say.status("starting the lab …"):
            result = lab.up(text, source, profile=profile, say=lambda line: say.print(f"  {line}"))
    except KeyboardInterrupt:
        err_console.print("interrupted: what had started is stopped again (its logs stay in the lab's logs/)")
        raise typer.Exit(130) from None
    verdict = "healthy" if result.healthy else "NOT healthy yet (see below; `gitlab-ha lab logs SERVICE@NODE`)"
    say.print(f"up in {result.seconds:.1f} s, {verdict}: {len(result.started)} programs under supervisord")
    code = run_status(lab.target(), f"lab {lab.dir}", json_out, None)
    say.print(
        "break something: gitlab-ha lab stop postgres-1 | lab kill redis@consul-redis-1 --signal KILL; "
        f"stop it all: gitlab-ha lab down --dir {directory}"
    )
    raise typer.Exit(code)


@lab_app.command("status")
def status(
    directory: Path = _dir_option(),
    json_out: bool = typer.Option(False, "--json", help="Print as JSON."),
    watch: float | None = typer.Option(None, "--watch", help="Refresh every N seconds until Ctrl-C."),
) -> None:
    """The lab's status (as `gitlab-ha status --lab DIR`) and, on stderr, what a killed drill left (a partition
    rule, a frozen node, a stopped process); exit 1 when anything is degraded or left.

    Example: gitlab-ha lab status --json
    """
    lab = _lab(directory, err_console)  # stdout keeps the table, JSON or log alone
    if not lab.exists():
        fail(f"{lab.dir}: no lab here (gitlab-ha lab up)")
    from gitlab_ha.drills.cleanup import fault_leftovers
    from gitlab_ha.drills.cluster import DrillLab

    # what a drill killed mid-fault leaves, which the probes alone would show only as its symptoms
    left = fault_leftovers(DrillLab.of(lab)) if lab.running() else []
    for line in left:
        err_console.print(f"[yellow]left by a drill:[/yellow] {line}", soft_wrap=True)
    if left:
        err_console.print("the next `gitlab-ha drill run` undoes these first; `gitlab-ha lab down` removes them")
    code = run_status(lab.target(), f"lab {lab.dir}", json_out, watch)
    raise typer.Exit(code or (1 if left else 0))


@lab_app.command("down")
def down(
    directory: Path = _dir_option(),
    purge: bool = typer.Option(
        False,
        "--purge",
        help="Also delete the lab directory (data included; a symlinked one: its target and the link).",
    ),
) -> None:
    """Stop every program and supervisord; remove the lab's cgroups and nftables rules. Data stays unless --purge.

    Example: gitlab-ha lab down --purge
    """
    lab = _lab(directory)
    if not lab.exists() and not lab.running():
        console.print("no lab here: nothing to do")
        return
    from gitlab_ha.drills.lock import drill_lock

    with drill_lock(lab.dir, "`lab down`"):  # not under a drill: it ended in a traceback, with no report
        left = lab.down(purge=purge)
    if purge and directory.is_symlink():
        directory.unlink()  # the lab lived where the link pointed, and is gone: no dangling link either
    for line in left:
        console.print(f"[yellow]left behind:[/yellow] {line}")
    console.print(
        "the lab is down" + (" and its directory removed" if purge else "; its data is kept (--purge removes it)")
    )
    if left:
        raise typer.Exit(1)


@lab_app.command("stop")
def stop(target: str = typer.Argument(..., help="NODE or SERVICE@NODE"), directory: Path = _dir_option()) -> None:
    """Stop a node (every program on it) or one program on purpose: the supervisor will not restart it.

    Example: gitlab-ha lab stop postgres-1
    """
    for name in _lab(directory).stop(target):
        console.print(f"stopped {name}")


@lab_app.command("start")
def start(target: str = typer.Argument(..., help="NODE or SERVICE@NODE"), directory: Path = _dir_option()) -> None:
    """Start a node's programs (or one) again.

    Example: gitlab-ha lab start postgres-1
    """
    for name in _lab(directory).start(target):
        console.print(f"started {name}")


@lab_app.command("kill")
def kill(
    target: str = typer.Argument(..., help="SERVICE@NODE (or NODE)"),
    sig: str = typer.Option("KILL", "--signal", help="KILL, STOP, CONT or TERM."),
    directory: Path = _dir_option(),
) -> None:
    """Signal a program's whole process tree (Patroni and its PostgreSQL, say). After KILL the supervisor
    restarts it; STOP hangs it until CONT.

    Example: gitlab-ha lab kill patroni@postgres-1 --signal KILL
    """
    if sig.upper() not in SIGNALS:
        fail(f"--signal {sig}: use one of {', '.join(SIGNALS)}")
    pids = _lab(directory).kill(target, SIGNALS[sig.upper()])
    console.print(f"sent SIG{sig.upper()} to {target}: pids {', '.join(map(str, pids))}")


@lab_app.command("logs")
def logs(
    target: str = typer.Argument(..., help="SERVICE@NODE"),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines until Ctrl-C."),
    lines: int = typer.Option(40, "--lines", "-n", help="How many of the last lines to print first."),
    directory: Path = _dir_option(),
) -> None:
    """Print a program's log (logs/SERVICE@NODE.log in the lab directory).

    Example: gitlab-ha lab logs patroni@postgres-1 -f
    """
    lab = _lab(directory, err_console)  # stdout keeps the table, JSON or log alone
    names = lab.targets(target)
    if len(names) != 1:
        fail(f"{target}: name one program, SERVICE@NODE ({', '.join(names)})")
    path = lab.supervisor.log(names[0])
    if not path.exists():
        raise InputError("no log yet", str(path))
    if lines < 0:
        fail(f"--lines {lines}: zero or more")
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        tail = handle.readlines()[-lines:] if lines else []
        handle.seek(0, 2)  # -f follows from the end
        for line in tail:
            console.out(line.rstrip("\n"), highlight=False)
        while follow:
            line = handle.readline()
            if line:
                console.out(line.rstrip("\n"), highlight=False)
            else:
                time.sleep(0.2)


@lab_app.command(
    "exec",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": ["-h", "--help"]},
)
def exec_(
    ctx: typer.Context,
    node: str = typer.Argument(..., help="The node to run on."),
    user: str | None = typer.Option(None, "--user", "-u", help="Run as this account (postgres, redis)."),
    directory: Path = _dir_option(),
) -> None:
    """Run a command as if on NODE: from its address, so servers judge it as that node
    (Patroni's allowlist, pg_hba.conf). Put the command after `--`.

    Example: gitlab-ha lab exec postgres-1 -- patronictl -c lab/nodes/postgres-1/patroni/patroni.yaml list
    """
    if not ctx.args:
        fail("name a command after `--`")
    if user is not None:
        try:
            pwd.getpwnam(user)
        except KeyError:
            fail(f"--user {user}: no such account")
    argv = _lab(directory, err_console).exec_argv(node, list(ctx.args), user)
    os.execvp(argv[0], argv)


def register(app: typer.Typer) -> None:
    app.add_typer(lab_app, name="lab")
