"""End-to-end segmentation speed against MONAI's BasicUNet forward pass, same process.

Usage: ``python benchmarks/speed.py [--device cpu|cuda] [--model nuclei]``

Prints the time of ``medseg_core.segment`` (normalise, tile, network,
instances, count) on a 512x512 nuclei image, the time of a forward pass of
MONAI's ``BasicUNet(features=(32, 32, 64, 128, 256, 32))`` on the same input,
and their ratio (target: <= 0.2 on CPU). When the ``nuclei-he`` model is
installed it also times it end to end on a 1000x1000 H&E tile (MoNuSeg) beside
the peer's forward pass on the same tile. On a GPU it also prints images per
second for batches of 512x512 images. Needs the ``bench`` extra (monai).
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


def theirs_batch(peer: torch.nn.Module, xb: torch.Tensor) -> None:
    with torch.inference_mode():
        peer(xb)
    torch.cuda.synchronize()


if __name__ == "__main__":
    main()
