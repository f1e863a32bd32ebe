"""A sortable Qt table model over a measurements dict of columns."""

from __future__ import annotations

from typing import Any

import numpy as np
from qtpy.QtCore import QAbstractTableModel, QModelIndex, Qt

#: Columns shown by default in the panel (the CSV always has all of them).
HIDDEN = ("bbox_min_y", "bbox_min_x", "bbox_max_y", "bbox_max_x", "min_intensity", "max_intensity")


def _header(name: str) -> str:
    text = name.replace("_px", " (px)").replace("_um2", " (µm²)").replace("_mm2", " (mm²)")
    text = text.replace("_um", " (µm)").replace("_mm", " (mm)").replace("_", " ")
    return text


class MeasureTableModel(QAbstractTableModel):
    """Rows = objects, columns = measurements; sorting reorders a row index only."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._table: dict[str, np.ndarray] = {}
        self._columns: list[str] = []
        self._order = np.zeros(0, dtype=np.int64)
        self._sort: tuple[int, Qt.SortOrder] | None = None

    # -------------------------------------------------------------- content
    def set_table(self, table: dict[str, np.ndarray]) -> None:
        """Replace the content, keeping the current sort."""
        self.beginResetModel()
        self._table = table
        self._columns = list(table)
        n = len(next(iter(table.values()))) if table else 0
        self._order = np.arange(n)
        if self._sort is not None and self._sort[0] < len(self._columns):
            self._apply_sort(*self._sort)
        self.endResetModel()

    @property
    def columns(self) -> list[str]:
        """Column names in table order."""
        return list(self._columns)

    def table(self) -> dict[str, np.ndarray]:
        """The table as set (unsorted)."""
        return self._table

    def label_at(self, row: int) -> int:
        """Object label shown in a view row."""
        return int(self._table["label"][self._order[row]])

    def value(self, row: int, column: str) -> Any:
        """Raw value of ``column`` in a view row."""
        return self._table[column][self._order[row]]

    # ----------------------------------------------------------- Qt model API
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._order)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        value = self.value(index.row(), self._columns[index.column()])
        if role == Qt.ItemDataRole.DisplayRole:
            if isinstance(value, (float, np.floating)):
                return "" if np.isnan(value) else f"{float(value):.4g}"
            return str(value)
        if role == Qt.ItemDataRole.TextAlignmentRole and not isinstance(value, str):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:
            return value
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return _header(self._columns[section]) if section < len(self._columns) else None
        return str(section + 1)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort the rows by a column (numeric columns numerically)."""
        if column < 0 or column >= len(self._columns):
            return
        self._sort = (column, order)
        self.layoutAboutToBeChanged.emit()
        self._apply_sort(column, order)
        self.layoutChanged.emit()

    def _apply_sort(self, column: int, order: Qt.SortOrder) -> None:
        values = self._table[self._columns[column]]
        keys = values.astype(str) if values.dtype == object else np.nan_to_num(values.astype(float), nan=np.inf)
        order_index = np.argsort(keys, kind="stable")
        self._order = order_index[::-1] if order == Qt.SortOrder.DescendingOrder else order_index
