"""End-to-end segmentation speed against MONAI's BasicUNet forward pass, same process.

Usage: ``python benchmarks/speed.py [--device cpu|cuda] [--model nuclei]``

Prints the time of ``medseg_core.segment`` (normalise, tile, network,
instances, count) on a 512x512 nuclei image, the time of a forward pass of
MONAI's ``BasicUNet(features=(32, 32, 64, 128, 256, 32))`` on the same input,
and their ratio (target: <= 0.2 on CPU). When the ``nuclei-he`` model is
installed it also times it end to end on a 1000x1000 H&E tile (MoNuSeg) beside
the peer's forward pass on the same tile. On a GPU it also prints images per
second for batches of 512x512 images. Needs the ``bench`` extra (monai).

On the CPU it also times both inference backends end to end in the same run,
side by side: PyTorch and ONNX Runtime (``--backend``; needs the ``exchange``
extra), checks that they give the same labels, and prints the load average,
since the ratio is what holds on a shared machine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import medseg_core
from _common import DATA, median_time, nuclei_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="nuclei")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    from monai.networks.nets import BasicUNet

    device = torch.device(args.device)
    image, source = nuclei_image(512)
    model = medseg_core.load_model(args.model, device=args.device)
    peer = BasicUNet(spatial_dims=2, in_channels=1, out_channels=2, features=(32, 32, 64, 128, 256, 32)).to(device).eval()
    x = torch.from_numpy(image.astype(np.float32) / 255)[None, None].to(device)

    def ours() -> None:
        medseg_core.segment(image, model)

    def theirs() -> None:
        with torch.inference_mode():
            peer(x)
        if device.type == "cuda":
            torch.cuda.synchronize()

    t_ours = median_time(ours, args.repeats)
    t_peer = median_time(theirs, args.repeats)
    result = medseg_core.segment(image, model)
    print(f"device: {medseg_core.device.describe_device(device)}; torch {torch.__version__}")
    print(f"image: 512x512 from {source}; {result.count} nuclei found")
    print(f"medseg end-to-end (normalise, tiles, network, instances, count): {t_ours * 1000:.0f} ms")
    print(f"MONAI BasicUNet(32,32,64,128,256,32) forward pass only:          {t_peer * 1000:.0f} ms")
    print(f"ratio medseg / peer: {t_ours / t_peer:.3f}  (target <= 0.2)")
    he_tile(peer, device, args.repeats)
    if device.type == "cpu":
        compare_backends(image, model, args.repeats)
    if device.type == "cuda":
        for batch in (8, 32):
            images = [image] * batch
            start = time.perf_counter()
            for im in images:
                medseg_core.segment(im, model, batch_size=8)
            ours_ips = batch / (time.perf_counter() - start)
            xb = x.repeat(batch, 1, 1, 1)
            t = median_time(lambda: theirs_batch(peer, xb), 3)
            print(f"batch {batch}: medseg {ours_ips:.1f} images/s end to end; peer forward {batch / t:.1f} images/s")


def he_tile(peer: torch.nn.Module, device: torch.device, repeats: int) -> None:
    """nuclei-he end to end on a 1000x1000 RGB H&E tile, and the peer on the same tile."""
    from medseg_core.errors import ModelFileError
    from medseg_core.io import read_image

    tiles = sorted((DATA / "monuseg" / "images").glob("*.png"))
    try:
        model = medseg_core.load_model("nuclei-he", device=str(device))
    except ModelFileError:
        print("nuclei-he: not installed; skipped")
        return
    if not tiles:
        print("nuclei-he: no MoNuSeg tile in ../shared/data; skipped")
        return
    tile = read_image(tiles[0]).array
    grey = torch.from_numpy(tile.mean(-1).astype(np.float32) / 255)[None, None].to(device)
    grey = torch.nn.functional.pad(grey, (0, 8, 0, 8))  # BasicUNet needs multiples of 16

    def theirs() -> None:
        with torch.inference_mode():
            peer(grey)

    t_ours = median_time(lambda: medseg_core.segment(tile, model), repeats)
    t_peer = median_time(theirs, repeats)
    count = medseg_core.segment(tile, model).count
    print(f"nuclei-he on a {tile.shape[0]}x{tile.shape[1]} H&E tile ({tiles[0].stem}, {count} nuclei): "
          f"{t_ours * 1000:.0f} ms end to end; peer forward pass {t_peer * 1000:.0f} ms; ratio {t_ours / t_peer:.3f}")
    if device.type == "cpu":
        compare_backends(tile, model, max(3, repeats // 2))


def compare_backends(image: np.ndarray, model, repeats: int) -> None:
    """PyTorch and ONNX Runtime end to end on the same image, interleaved, with the labels compared."""
    import os

    from medseg_core.exchange.onnx_backend import onnxruntime_available, with_backend

    if not onnxruntime_available():
        print("backends: onnxruntime not installed (pip install 'medseg[exchange]'); skipped")
        return
    start = time.perf_counter()
    onnx_model = with_backend(model, "onnx")
    print(f"backends: ONNX graph of {model.info.name} ready in {time.perf_counter() - start:.1f} s "
          "(exported on first use, then cached)")
    models = {"torch": model, "onnx": onnx_model}
    times: dict[str, list[float]] = {name: [] for name in models}
    load_before = os.getloadavg()[0]
    for name in models:  # warm-up
        medseg_core.segment(image, models[name])
    for _ in range(repeats):  # interleaved, so both see the same load
        for name, m in models.items():
            t0 = time.perf_counter()
            medseg_core.segment(image, m)
            times[name].append(time.perf_counter() - t0)
    load_after = os.getloadavg()[0]
    a = medseg_core.segment(image, model)
    b = medseg_core.segment(image, onnx_model)
    same = bool(np.array_equal(a.labels, b.labels))
    t_torch, t_onnx = (float(np.median(times[n])) for n in models)
    print(f"backends on {image.shape[0]}x{image.shape[1]}, {model.info.name}, end to end "
          f"({torch.get_num_threads()} threads; load average {load_before:.1f} -> {load_after:.1f} on "
          f"{os.cpu_count()} cores):")
    print(f"  torch {t_torch * 1000:7.0f} ms   onnx {t_onnx * 1000:7.0f} ms   "
          f"onnx/torch {t_onnx / t_torch:.2f}   same labels: {same} ({a.count} vs {b.count} objects)")
    faster = "onnx" if t_onnx < 0.9 * t_torch and same else "torch"
    print(f"  default on this CPU by the rule (>10% faster and same labels): {faster}")


def theirs_batch(peer: torch.nn.Module, xb: torch.Tensor) -> None:
    with torch.inference_mode():
        peer(xb)
    torch.cuda.synchronize()


if __name__ == "__main__":
    main()
