"""Plot the validation curves of ``tools/train_shipped.py`` runs, continuations joined.

Usage::

    python tools/plot_training_curves.py --out docs/training_curves.png \\
        "nuclei:runs/nuclei-lite0.log,runs/nuclei-lite0-s17.log" \\
        "nuclei-he:runs/nuclei-he.log"

Each argument is ``TITLE:LOG[,LOG...]``: the logs of one model's runs in the
order they continued each other. A run's minutes are added to those before
it, so the x axis is the model's total number of training steps (a run's
minutes depend on how busy the machine was; its steps do not). The metric is AP@0.5
(``ap50``) for instance models and F1 for semantic ones; a dashed line marks
where a run continued from the previous run's best checkpoint. The lines
``epoch N step S loss L name=value ... [M min]`` that ``train_shipped.py``
prints are what is read.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

EPOCH_LINE = re.compile(r"^epoch \d+ step (?P<step>\d+) loss \S+ (?P<metrics>.*?)(?: \*best\*)? \[(?P<minutes>[\d.]+) min\]$")
METRIC = re.compile(r"(\w[\w ]*?)=([\d.]+)")


def read_log(path: Path) -> list[dict[str, float]]:
    """The validation rows of one training log: minutes, step and each metric."""
    rows = []
    for line in path.read_text().splitlines():
        match = EPOCH_LINE.match(line.strip())
        if match:
            row = {name.strip(): float(value) for name, value in METRIC.findall(match["metrics"])}
            rows.append({**row, "minutes": float(match["minutes"]), "step": float(match["step"])})
    return rows


def joined(paths: list[Path]) -> tuple[list[dict[str, float]], list[float]]:
    """Rows of consecutive runs on one step axis, and the steps where each later run starts."""
    rows, starts, offset = [], [], 0.0
    for path in paths:
        run = read_log(path)
        if not run:
            continue
        if rows:
            starts.append(offset)
        rows += [{**row, "step": row["step"] + offset} for row in run]
        offset = rows[-1]["step"]
    return rows, starts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="TITLE:LOG[,LOG...]")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(args.models), figsize=(4.2 * len(args.models), 3.4), squeeze=False)
    for ax, spec in zip(axes[0], args.models):
        title, _, logs = spec.partition(":")
        rows, starts = joined([Path(p) for p in logs.split(",")])
        if not rows:
            raise SystemExit(f"no validation lines in {logs}")
        metric = "ap50" if "ap50" in rows[0] else "f1"
        ax.plot([r["step"] for r in rows], [r[metric] for r in rows], marker="o", markersize=3)
        for start in starts:
            ax.axvline(start, color="grey", linestyle="--", linewidth=0.8)
        best = max(rows, key=lambda r: r[metric])
        ax.set_title(f"{title}: best {metric} {best[metric]:.3f}", fontsize=10)
        ax.set_xlabel("training steps")
        ax.set_ylabel("AP@0.5" if metric == "ap50" else "F1 (pixels)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
