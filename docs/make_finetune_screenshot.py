"""Make ``docs/screenshot_finetune.png``: the Fine-tune panel after a real run.

Opens napari with three DSB 2018 images (and their masks as labels layers),
docks the Fine-tune panel, fine-tunes a model for a short time budget on
whatever device is present, and saves a screenshot of the whole window.
Trained models go to a temporary MedSeg user folder, never the real one.

Usage::

    python docs/make_finetune_screenshot.py                 # shipped 'nuclei'
    python docs/make_finetune_screenshot.py --model tiny.safetensors --minutes 0.3
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_DATA = Path("/work/shared/data/dsb2018")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="nuclei", help="base model: a shipped name or a .safetensors file")
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="DSB 2018 folder (images/, masks/, index.csv)"
    )
    parser.add_argument("--modality", default="brightfield", help="index.csv modality to pick images from")
    parser.add_argument("--images", type=int, default=3, help="number of images to open")
    parser.add_argument("--minutes", type=float, default=1.5, help="training time budget")
    parser.add_argument("--epochs", type=int, help="train for this many epochs instead of --minutes")
    parser.add_argument("--steps-per-epoch", type=int, default=10, help="steps between validation passes")
    parser.add_argument("--out", type=Path, default=HERE / "screenshot_finetune.png", help="PNG to write")
    parser.add_argument("--size", default="1600x1000", help="window size WIDTHxHEIGHT")
    return parser.parse_args(argv)


def pick_images(data: Path, modality: str, n: int) -> list[str]:
    """Names of ``n`` small images of a modality with a moderate number of nuclei.

    Images the shipped ``nuclei`` model was validated on (never trained on)
    are preferred, so the base model's scores are honest.
    """
    with open(data / "index.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["modality"] == modality]
    held_out = ROOT / "resources" / "models" / "splits" / "nuclei_val.txt"
    if held_out.is_file():
        names = set(held_out.read_text(encoding="utf-8").split())
        rows = sorted(rows, key=lambda r: r["name"] not in names)
    small = [
        r for r in rows if int(r["height"]) * int(r["width"]) <= 512 * 512 and 15 <= int(r["n_objects"]) <= 90
    ]
    chosen = (small or rows)[:n]
    if len(chosen) < n:
        sys.exit(f"only {len(chosen)} {modality} images in {data}")
    return [r["name"] for r in chosen]


def main(argv: list[str] | None = None) -> int:
    """Run the demo and save the screenshot."""
    args = parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="medseg-screenshot-"))
    os.environ["MEDSEG_HOME"] = str(home)
    base = args.model
    if Path(base).is_file():
        target = home / "models" / Path(base).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(base, target)
        base = target.stem

    from medseg_app.finetune_job import guard_torch_imports

    guard_torch_imports()  # before napari's OpenGL canvas exists

    import napari
    from medseg_app.finetune_widget import FineTuneWidget
    from qtpy.QtWidgets import QApplication

    from medseg_core.io import read_image, read_labels

    width, height = (int(v) for v in args.size.split("x"))
    viewer = napari.Viewer(title="MedSeg: fine-tune", show=True)
    viewer.window.resize(width, height)
    names = pick_images(args.data, args.modality, args.images)
    for i, name in enumerate(names):
        image = read_image(args.data / "images" / f"{name}.png")
        rgb = image.array.ndim == 3
        array = image.array[..., :3] if rgb else image.array
        viewer.add_image(array, name=name, rgb=rgb, visible=i == 0)
        labels = viewer.add_labels(
            read_labels(args.data / "masks" / f"{name}.tif"), name=f"{name} labels", visible=i == 0
        )
        labels.contour = 2  # outlines keep the stained nuclei visible
    widget = FineTuneWidget(viewer)
    dock = viewer.window.add_dock_widget(widget, name="Fine-tune", area="right")
    dock.setMinimumWidth(520)
    if not widget.settings.set_base(base):
        sys.exit(f"model '{base}' not found (available: {', '.join(widget.settings.base_names())})")
    widget.settings.reset_name()
    if args.epochs:
        widget.settings.epochs_radio.setChecked(True)
        widget.settings.epochs_spin.setValue(args.epochs)
    else:
        widget.settings.minutes_radio.setChecked(True)
        widget.settings.minutes_spin.setValue(args.minutes)
    widget.settings.steps_spin.setValue(args.steps_per_epoch)
    app = QApplication.instance()
    app.processEvents()
    widget.data.update_summary()
    if not widget.start():
        sys.exit(f"training did not start: {widget.status_label.text()}")
    start = time.perf_counter()
    while widget.worker is not None:
        app.processEvents()
        time.sleep(0.02)
        if time.perf_counter() - start > 1800:
            widget.abort()
            sys.exit("training did not finish in time")
    for _ in range(30):
        app.processEvents()
        time.sleep(0.02)
    print(widget.status_label.text())
    viewer.reset_view()
    for _ in range(10):
        app.processEvents()
        time.sleep(0.02)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    viewer.window.screenshot(str(args.out), canvas_only=False)
    print(f"wrote {args.out}")
    viewer.close()
    shutil.rmtree(home, ignore_errors=True)
    return 0 if widget.outcome is not None and not widget.outcome.error else 1


if __name__ == "__main__":
    raise SystemExit(main())
