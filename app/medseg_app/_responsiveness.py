"""Start-up steps that keep the window responsive later (measured by ``benchmarks/ui_responsiveness.py``).

* :func:`warm_up_labels_layers` pays napari's first-use costs of a layer and
  of a Labels layer (imports, the canvas's set-up, vispy's overlays) while the
  window is being built, not on the first image opened or Segment click.
* :func:`settle_after_startup` exempts start-up objects from the garbage
  collector and lets the UI thread take Python's interpreter lock sooner
  from worker threads (segmentation, fine-tuning).
"""

from __future__ import annotations

import gc
import sys

import napari
import numpy as np

#: How long a thread may hold the interpreter lock before another may take it
#: (Python's default is 5 ms). While fine-tuning, every repaint of the
#: window waits for the lock at each call from Qt back into Python; with the
#: default those waits added up to stalls of 100 ms and more.
SWITCH_INTERVAL_S = 0.0005


def warm_up_labels_layers(viewer: napari.viewer.Viewer) -> None:
    """Add a 1 x 1 Labels layer and remove it again.

    The first layer of a session costs napari about 0.65 s more than later
    ones (module imports, the first layer's set-up of the canvas, vispy's
    line-dash atlas), and the first Labels layer about 0.1 s more than later
    Labels layers. Paid here, while the window is built and before MedSeg's
    panels listen to layer events, neither the first image opened nor the
    first Segment click pays them. The viewer's layers and selection are
    left as they were.
    """
    selected = set(viewer.layers.selection)
    active = viewer.layers.selection.active
    layer = viewer.add_labels(np.zeros((1, 1), dtype=np.int32), name="medseg warm-up", opacity=0.0)
    viewer.layers.remove(layer)
    viewer.layers.selection.update(selected)
    viewer.layers.selection.active = active


def settle_after_startup() -> int:
    """Freeze start-up objects out of the garbage collector and favour the UI thread's lock requests.

    napari, vispy and Qt leave about half a million long-lived objects after
    start-up. A full collection walks all of them, holding the GIL for
    0.1-0.3 s: a visible freeze whenever it happens to trigger, even from a
    worker thread. Freezing them once the window is built (``gc.freeze``)
    makes later full collections walk only the newer objects (about 30 ms).
    Objects are still freed by reference counting; only cycles among the
    frozen start-up objects are never collected, and those live as long as
    the app anyway. The switch interval is set to :data:`SWITCH_INTERVAL_S`.

    Returns
    -------
    int
        How many objects are frozen.
    """
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    return gc.get_freeze_count()
