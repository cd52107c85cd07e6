"""A run's timeline as a PNG (matplotlib, no display): writes per quarter second through the internal
load balancer and through Sentinel (acknowledged, failed, unknown), the writable PostgreSQL primaries
the sampler saw, and the drill's events marked across all three (fault, heal, detected, promoted,
every PgBouncer followed, healthy). Time 0 is the fault."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gitlab_ha.drills.checker import Metrics, primary_counts
from gitlab_ha.drills.history import History, Outcome, Store

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# matplotlib (~1 s of imports) is loaded by draw() alone: `gitlab-ha --help` imports the drill verb, and this.

BIN = 0.25
COLORS = {Outcome.OK: "#2e7d32", Outcome.FAILED: "#c62828", Outcome.UNKNOWN: "#f9a825"}


def _bins(history: History, store: Store, fault: float, start: float, end: float) -> dict[Outcome, list[int]]:
    count = max(1, int((end - start) / BIN) + 1)
    out = {outcome: [0] * count for outcome in Outcome}
    for op in history.ops:
        if op.store is not store or op.completed is None:
            continue
        index = int((op.completed - fault - start) / BIN)
        if 0 <= index < count:
            out[op.outcome or Outcome.UNKNOWN][index] += 1
    return out


def _marks(history: History, metrics: Metrics | None, fault: float) -> list[tuple[float, str, str]]:
    marks = [(e.t - fault, e.name, "black" if e.name == "fault" else "#1565c0") for e in history.events]
    if metrics is not None:
        for value, name in (
            (metrics.detect, "detected"),
            (metrics.promote, "promoted"),
            (metrics.pgbouncers_followed, "PgBouncers followed"),
        ):
            if value is not None:
                marks.append((value, name, "#6a1b9a"))
    return marks


def draw(history: History, metrics: Metrics | None, path: Path, title: str) -> Path:
    fault = history.event("fault")
    if fault is None:
        raise ValueError("the history has no fault event")
    times = [op.completed for op in history.ops if op.completed is not None] + [e.t for e in history.events]
    start = min(times, default=fault) - fault
    end = max(times, default=fault) - fault
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 6.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(3, 1, sharex=True, height_ratios=[3, 3, 1.4])
    for ax, store, name in ((axes[0], Store.SQL, "rows via internal LB"), (axes[1], Store.REDIS, "keys via Sentinel")):
        bins = _bins(history, store, fault, start, end)
        xs = [start + i * BIN for i in range(len(bins[Outcome.OK]))]
        bottom = [0] * len(xs)
        for outcome in Outcome:
            ax.bar(
                xs, bins[outcome], width=BIN, bottom=bottom, align="edge", color=COLORS[outcome], label=outcome.value
            )
            bottom = [b + v for b, v in zip(bottom, bins[outcome], strict=True)]
        result = None if metrics is None else (metrics.sql if store is Store.SQL else metrics.redis)
        if result is not None and result.outage is not None:
            ax.axvspan(*result.outage, color="#ef9a9a", alpha=0.35, zorder=0)
            ax.set_title(f"{name}: unavailable {result.rto:.1f} s, {len(result.lost)} acknowledged lost", loc="left")
        else:
            ax.set_title(f"{name}: writes never came back" if result else name, loc="left")
        ax.set_ylabel(f"writes / {BIN:g} s")
    axes[0].legend(loc="upper right", fontsize="small")
    _primaries(axes[2], history, fault, start, end)
    for ax in axes:
        for x, _name, color in _marks(history, metrics, fault):
            ax.axvline(x, color=color, linestyle="--", linewidth=1)
    for x, name, color in _marks(history, metrics, fault):
        axes[0].annotate(
            name,
            (x, 1.0),
            xycoords=("data", "axes fraction"),
            rotation=90,
            va="top",
            ha="right",
            fontsize=8,
            color=color,
        )
    axes[2].set_xlim(start, end)
    axes[2].set_xlabel("seconds after the fault")
    fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    return path


def _primaries(ax: Axes, history: History, fault: float, start: float, end: float) -> None:
    xs: list[float] = [start]
    ys: list[int] = [0]
    for t, count, _ in primary_counts(history):
        xs.append(t - fault)
        ys.append(count)
    xs.append(end)
    ys.append(ys[-1])
    ax.step(xs, ys, where="post", color="#37474f")
    ax.fill_between(xs, ys, 1, where=[y >= 2 for y in ys], step="post", color="#d50000", alpha=0.5)
    ax.set_ylim(-0.2, max(2.5, max(ys) + 0.5))
    ax.set_yticks(range(max(3, max(ys) + 1)))
    ax.set_ylabel("writable\nprimaries")
