"""Every tooltip and help text of the MedSeg panels, in one place.

Keeping the texts here (as micro-sam does) makes them easy to review,
translate and keep consistent; widgets look them up with :func:`tip`.
"""

from __future__ import annotations

TOOLTIPS: dict[str, str] = {
    # segment panel
    "model_combo": "Model used for segmentation. Shipped models come with MedSeg; "
    "user models are the ones saved by the Fine-tune panel. Hover an entry for its model card.",
    "refresh_models_button": "Look for new model files again.",
    "backend_combo": "What runs the network. Auto: ONNX Runtime on the CPU when it is installed (faster there, "
    "same labels), else PyTorch; the ONNX graph is made once per model and kept.",
    "device_combo": "Where the network runs. Auto uses a GPU when one is available, else the CPU.",
    "tile_spin": "Large images are processed in square tiles of this many pixels. "
    "Smaller tiles use less memory; larger tiles are a little faster.",
    "min_size_spin": "Objects smaller than this many pixels are dropped. "
    "'model default' uses the value the model was trained with.",
    "threshold_spin": "Probability above which a pixel counts as foreground. "
    "Lower finds more and larger objects. 'model default' uses the model's value.",
    "segment_button": "Segment the selected image layer(s). The result appears as a "
    "'<image> labels' layer.",
    "cancel_button": "Stop the running segmentation. Nothing is added.",
    "progress_bar": "Progress of the running segmentation.",
    # correct panel
    "labels_combo": "The labels layer the correction tools act on.",
    "brush_size_spin": "Brush diameter in pixels for painting and erasing ([ and ] change it).",
    "selected_label_spin": "Label painted by the brush; also the object the buttons below act on. "
    "Pick mode (L) takes it from the image.",
    "new_label_button": "Choose an unused label, to paint a new object (M).",
    "paint_mode_button": "Paint the selected label (P or 2).",
    "erase_mode_button": "Erase to background (E or 1).",
    "fill_mode_button": "Flood-fill a region with the selected label (F or 4).",
    "pick_mode_button": "Click an object to select its label (L or 5).",
    "pan_zoom_mode_button": "Move and zoom the view without editing (Z or 6).",
    "undo_button": "Undo the last edit (Ctrl+Z).",
    "redo_button": "Redo the last undone edit (Ctrl+Shift+Z).",
    "delete_object_button": "Delete the selected object (Shift+D deletes the object under the mouse).",
    "merge_source_spin": "Object that disappears into the other one.",
    "merge_target_spin": "Object that absorbs the other one.",
    "merge_button": "Merge the first object into the second.",
    "split_button": "Split an object along a line: the first click adds a 'split line' layer "
    "to draw a path across the object; click again to cut.",
    "remove_small_spin": "Size limit in pixels for 'Remove small'.",
    "remove_small_button": "Delete every object smaller than the size limit.",
    "fill_holes_button": "Fill background holes enclosed by a single object.",
    "relabel_button": "Renumber objects 1..N without gaps.",
    "shortcuts_button": "Show the keyboard shortcuts.",
    # count panel
    "count_label": "Number of objects in the labels layer (current slice for stacks).",
    "measure_table": "One row per object. Click a header to sort, click a row to select "
    "the object and centre the view on it.",
    "export_csv_button": "Save the measurements of all objects as a CSV file "
    "(physical units when the pixel size is known).",
    "save_labels_button": "Save the labels layer as a TIFF file.",
}

SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("P or 2", "paint mode"),
    ("E or 1", "erase mode"),
    ("F or 4", "fill mode"),
    ("L or 5", "pick mode (select the label under the mouse)"),
    ("Z or 6", "pan/zoom mode"),
    ("Space (hold)", "pan/zoom while in another mode"),
    ("M", "new label (unused value)"),
    ("- / =", "previous / next label"),
    ("[ / ]", "smaller / larger brush"),
    ("B", "preserve existing labels while painting"),
    ("X", "swap selected label and background"),
    ("Ctrl+Z / Ctrl+Shift+Z", "undo / redo"),
    ("Shift+D", "delete the object under the mouse"),
    ("Ctrl+O", "open image"),
)


def tip(name: str) -> str:
    """Tooltip text of the control whose objectName is ``name`` ('' if none)."""
    return TOOLTIPS.get(name, "")


def shortcuts_html() -> str:
    """The keyboard shortcuts as an HTML table (for the help dialog)."""
    rows = "".join(f"<tr><td><b>{key}</b></td><td>{what}</td></tr>" for key, what in SHORTCUTS)
    return f"<table cellspacing='6'>{rows}</table>"
