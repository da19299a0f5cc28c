"""The report: formatting of values and ratios, goal checks, and the markdown table that
compares the servers' figures row by row."""

from __future__ import annotations

import math
import subprocess
from typing import TYPE_CHECKING

from .servers import ROOT

if TYPE_CHECKING:  # only for annotations: the harness imports this module
    from .harness import Figure, Goal


def fmt(v: float | None, unit: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if unit.endswith("/s"):
        return f"{v:,.0f} {unit}" if v >= 100 else f"{v:.1f} {unit}"
    if unit == "ok":
        return "yes" if v >= 1 else "NO"
    if unit == "x":
        return f"{v:.2f}x"
    if unit == "%":
        return f"{v:.0f} %"
    if unit == "ms":
        return f"{v:.3f} ms" if v < 10 else f"{v:.1f} ms"
    if unit == "MiB":
        return f"{v:.1f} MiB"
    if unit == "s":
        return f"{v:.2f} s"
    return f"{v:g} {unit}"


def ratio(ref: Figure | None, ff: Figure | None) -> float | None:
    """Bigger = ferroflow better: throughput ff/ref, everything else ref/ff."""
    if not ref or not ff or ref.value is None or ff.value is None or ref.info:
        return None
    if math.isnan(ref.value) or math.isnan(ff.value):
        return None
    a, b = (ff.value, ref.value) if ref.better == "higher" else (ref.value, ff.value)
    return a / b if b > 0 else None


def fmt_ratio(r: float | None) -> str:
    if r is None:
        return "—"
    return f"{r:,.0f}x" if r >= 100 else f"{r:.1f}x" if r >= 10 else f"{r:.2f}x"


def goal_status(g: Goal, ref: Figure | None, ff: Figure | None) -> str:
    if g.kind == "ratio":
        r = ratio(ref, ff)
        if r is None:
            return "n/a"
        return ("PASS" if r >= g.threshold else "FAIL") + f" ({fmt_ratio(r)} vs ≥{g.threshold:g}x)"
    if not ff or ff.value is None or (isinstance(ff.value, float) and math.isnan(ff.value)):
        return "n/a"
    if ff.unit == "ok":
        return "PASS" if ff.value >= 1 else "FAIL"
    if g.kind == "min":
        return ("PASS" if ff.value >= g.threshold else "FAIL") + f" ({fmt(ff.value, ff.unit)} vs ≥{fmt(g.threshold, ff.unit)})"
    return ("PASS" if ff.value <= g.threshold else "FAIL") + f" ({fmt(ff.value, ff.unit)} vs ≤{fmt(g.threshold, ff.unit)})"


def render(results: dict[str, list[Figure]], checks: dict[str, list[str]], meta: dict, all_goals: list[Goal]) -> str:
    order: list[str] = []
    by: dict[str, dict[str, Figure]] = {}
    for server, figs in results.items():
        prev = -1  # a key only one server has goes right after that server's previous row
        for f in figs:
            if f.key not in order:
                order.insert(prev + 1, f.key)
            prev = order.index(f.key)
            by.setdefault(f.key, {})[server] = f
    goals: dict[str, list[Goal]] = {}
    for g in all_goals:
        goals.setdefault(g.key, []).append(g)
    rows = [["figure", "reference", "ferroflow", "ratio", "goal", "notes"]]
    for key in order:
        ref, ff = by[key].get("reference"), by[key].get("ferroflow")
        f = ff or ref
        gs = goals.get(key, [])
        if ref and ff and ref.note == ff.note:
            notes = ref.note
        else:
            notes = "; ".join(f"{n}: {x.note}" for n, x in (("ref", ref), ("ff", ff)) if x and x.note)
        rows.append([
            f"{f.label} [{f.unit}]" + (" (info)" if f.info else ""),
            fmt(ref.value, ref.unit) if ref else "—",
            fmt(ff.value, ff.unit) if ff else "—",
            "" if f.info else fmt_ratio(ratio(ref, ff)),
            "; ".join(goal_status(g, ref, ff) for g in gs),
            notes,
        ])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, r in enumerate(rows):
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    out = [
        "# ferroflow benchmark — latest run",
        "",
        f"- date: {meta['date']}",
        f"- git: {meta['git']}",
        f"- machine: {meta['machine']}; {meta['load']}",
        f"- reference: mlflow {meta['mlflow']} (`mlflow server --workers 1`)",
        f"- both servers: {meta.get('deployment', 'SQLite store, artifacts in a local directory')}",
        f"- ferroflow: {meta['ferroflow']}",
        f"- mode: {meta['mode']}; workloads: {', '.join(meta['workloads'])}",
        "- ratio: bigger = ferroflow better (throughput ff/ref; latency, time and memory ref/ff)",
        "",
        *lines,
        "",
    ]
    problems = [(s, c) for s, cs in checks.items() for c in cs]
    out += ["## Checks", ""]
    if problems:
        out += [f"- **{s}**: {c}" for s, c in problems]
    else:
        out.append("- all result-shape checks passed")
    out.append("")
    return "\n".join(out)


def git_rev() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True,
                               timeout=10).stdout.strip()
        return (rev or "no commit") + (" (dirty)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def mlflow_version() -> str:
    try:
        from importlib.metadata import version

        return version("mlflow")
    except Exception:  # noqa: BLE001
        return "unknown"

