"""MedSeg napari desktop application."""
