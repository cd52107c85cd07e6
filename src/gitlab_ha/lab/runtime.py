"""What the lab's processes run with: an interpreter every service account may execute, and the
module path that finds gitlab-ha and its pinned libraries there.

The project's virtualenv may be built on an interpreter under a private home (pyenv in /root):
`postgres` and `redis` cannot execute it. Debian's python3.11 runs the same code with the venv's
site-packages and our source on PYTHONPATH (the compiled wheels are built for CPython 3.11).
"""

from __future__ import annotations

import functools
import os
import sys
import sysconfig
from pathlib import Path

import gitlab_ha
from gitlab_ha.errors import InputError
from gitlab_ha.proc import call

SYSTEM_PYTHON = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")


def _world_executable(path: Path) -> bool:
    """Whether any account may execute `path`: the file and every folder above it are world-usable."""
    try:
        real = path.resolve(strict=True)
        if not os.stat(real).st_mode & 0o001:
            return False
        return all(os.stat(parent).st_mode & 0o001 for parent in real.parents)
    except OSError:
        return False


@functools.cache
def python_for_services() -> tuple[str, ...]:
    """The interpreter lab services run gitlab-ha and Patroni with."""
    for candidate in (Path(sys.executable), SYSTEM_PYTHON):
        if _world_executable(candidate):
            return (str(candidate),)
    raise InputError(
        f"no Python {sys.version_info.major}.{sys.version_info.minor} that the postgres and redis accounts "
        f"may execute (install Debian's python{sys.version_info.major}.{sys.version_info.minor})",
        "lab",
    )


@functools.cache
def pythonpath() -> str:
    """PYTHONPATH for lab services: gitlab-ha's source and the venv's site-packages."""
    source = Path(gitlab_ha.__file__).resolve().parent.parent
    return os.pathsep.join([str(source), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])


def precompile() -> None:
    """Compile gitlab-ha's modules beside their sources, as `pip install` does for a package.

    Lab services never write bytecode (they run as postgres or redis, and PYTHONDONTWRITEBYTECODE may be
    set): without this every agent, watch and check compiles the package from source at each start;
    fifteen agents starting together spent ~20 s of two cores on it. (PYTHONPYCACHEPREFIX is no way out:
    it moves the standard library's bytecode too, which then compiles at every start.)"""
    source = Path(gitlab_ha.__file__).resolve().parent
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    done = call([sys.executable, "-m", "compileall", "-q", "-j", "0", str(source)], env=env, timeout=300)
    if done.returncode != 0:
        raise InputError(f"compiling gitlab-ha's modules failed: {done.stdout.strip()[-300:]}", str(source))


def service_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        "PATH": "/usr/lib/postgresql/15/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "PYTHONPATH": pythonpath(),
        "LC_ALL": "C.UTF-8",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.update(extra or {})
    return env
