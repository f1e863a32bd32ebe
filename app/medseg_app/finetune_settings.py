"""The "Settings" tab of the Fine-tune panel: base model, name, budget, options.

Defaults depend on the device training will use: on a CPU a 2-minute budget
with small batches (so the curves move), on a GPU a 10-minute budget with
the engine's usual batch and epoch sizes.
"""

from __future__ import annotations

from pathlib import Path

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from medseg_core.device import describe_device, resolve_device
from medseg_core.errors import MedsegError
from medseg_core.finetune_data import default_model_name
from medseg_core.registry import MODEL_SUFFIX, list_models, user_model_path, user_models_dir
from medseg_core.training import TrainConfig

#: Defaults per device type: minutes, batch size, crop, steps per epoch.
DEFAULTS = {
    "cpu": {"minutes": 2.0, "batch_size": 4, "crop": 256, "steps_per_epoch": 20},
    "gpu": {"minutes": 10.0, "batch_size": 8, "crop": 256, "steps_per_epoch": 100},
}
DEFAULT_LR = 1e-3
PREFERRED_BASE = "nuclei"


class SettingsWidget(QWidget):
    """Base model, new model name, time budget or epochs, learning rate, advanced options."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        device = resolve_device("auto")
        defaults = DEFAULTS["cpu" if device.type == "cpu" else "gpu"]
        self.base_combo = QComboBox()
        self.base_combo.setObjectName("finetune_base_combo")
        self.base_combo.setToolTip("The model to start from: its weights are copied, never changed.")
        self.base_combo.currentIndexChanged.connect(self._on_base_changed)
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("finetune_name_edit")
        self.name_edit.setToolTip(
            "Name of the new model in the model pickers (letters, digits, space, . _ -)."
        )
        self.name_edit.textEdited.connect(self._on_name_edited)
        self.name_edit.textChanged.connect(self._check_name)
        self.name_hint = QLabel()
        self.name_hint.setObjectName("finetune_name_hint")
        self.name_hint.setStyleSheet("color: orange;")
        self.name_hint.setWordWrap(True)
        self.name_hint.hide()
        self._name_is_default = True

        self.minutes_radio = QRadioButton("Time budget")
        self.minutes_radio.setChecked(True)
        self.minutes_radio.setToolTip("Train for this long, then keep the best model found.")
        self.minutes_spin = _double(0.25, 600, defaults["minutes"], 0.5, "finetune_minutes_spin", " min", 2)
        self.minutes_spin.setToolTip("Minutes of training (validation time included).")
        self.epochs_radio = QRadioButton("Epochs")
        self.epochs_radio.setToolTip("Train for a fixed number of epochs (one validation pass after each).")
        self.epochs_spin = _int(1, 10000, 20, "finetune_epochs_spin", "Number of epochs.")
        self.lr_spin = _double(1e-6, 0.1, DEFAULT_LR, 1e-4, "finetune_lr_spin", "", 6)
        self.lr_spin.setToolTip("Learning rate: 1e-3 suits fine-tuning on a few images (benchmarks/finetune.py); lower it to 3e-4 if the loss jumps up.")
        self.batch_spin = _int(
            1, 256, defaults["batch_size"], "finetune_batch_spin", "Image crops per training step."
        )
        self.crop_spin = _int(
            32, 2048, defaults["crop"], "finetune_crop_spin", "Side of the training crops, in pixels."
        )
        self.crop_spin.setSingleStep(32)
        self.steps_spin = _int(
            1,
            100000,
            defaults["steps_per_epoch"],
            "finetune_steps_spin",
            "Training steps between two validation passes.",
        )
        self.freeze_spin = _int(
            0,
            100000,
            0,
            "finetune_freeze_spin",
            "Steps during which the encoder stays frozen (only the decoder learns).",
        )
        device_label = QLabel(f"Device: {describe_device(device)}")
        device_label.setToolTip("Training uses the GPU when one is present.")
        self._layout(device_label)
        self.refresh_models()

    def _layout(self, device_label: QLabel) -> None:
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Start from:", self.base_combo)
        form.addRow("New name:", self.name_edit)
        form.addRow("", self.name_hint)
        budget = QGridLayout()  # two rows: narrow enough for a laptop's side panel
        budget.addWidget(self.minutes_radio, 0, 0)
        budget.addWidget(self.minutes_spin, 0, 1)
        budget.addWidget(self.epochs_radio, 1, 0)
        budget.addWidget(self.epochs_spin, 1, 1)
        form.addRow("Stop after:", budget)
        form.addRow("Learning rate:", self.lr_spin)
        advanced = QCollapsible("Advanced options")
        advanced.setObjectName("finetune_advanced")
        inner = QWidget()
        inner_form = QFormLayout(inner)
        inner_form.addRow("Batch size:", self.batch_spin)
        inner_form.addRow("Crop size:", self.crop_spin)
        inner_form.addRow("Steps per epoch:", self.steps_spin)
        inner_form.addRow("Freeze encoder steps:", self.freeze_spin)
        advanced.addWidget(inner)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(form)
        layout.addWidget(advanced)
        layout.addWidget(device_label)
        layout.addStretch(1)

    def refresh_models(self, select: str | None = None) -> None:
        """Re-list shipped and user models; keep (or set) the chosen one."""
        current = select or self.base_name()
        entries = list_models()
        self.base_combo.blockSignals(True)
        self.base_combo.clear()
        for entry in entries:
            label = entry.name if entry.shipped else f"{entry.name} (yours)"
            self.base_combo.addItem(label, entry.name)
            self.base_combo.setItemData(
                self.base_combo.count() - 1, entry.info.summary(), Qt.ItemDataRole.ToolTipRole
            )
        names = [entry.name for entry in entries]
        wanted = current if current in names else (PREFERRED_BASE if PREFERRED_BASE in names else None)
        self.base_combo.setCurrentIndex(names.index(wanted) if wanted else (0 if names else -1))
        self.base_combo.blockSignals(False)
        if self._name_is_default or not self.name_edit.text():
            self._set_default_name()
        self._check_name()

    def base_name(self) -> str | None:
        """Name of the chosen base model."""
        return self.base_combo.currentData()

    def set_base(self, name: str) -> bool:
        """Choose a base model by name; False when it is not listed."""
        index = self.base_combo.findData(name)
        if index >= 0:
            self.base_combo.setCurrentIndex(index)
        return index >= 0

    def base_names(self) -> list[str]:
        """Names offered in the base-model combo."""
        return [self.base_combo.itemData(i) for i in range(self.base_combo.count())]

    def output_path(self) -> tuple[str, Path]:
        """The new model's name and file path.

        Raises
        ------
        MedsegError
            The name is empty, unusable, shipped, or taken by a user model.
        """
        name = self.name_edit.text().strip()
        if not name:
            raise MedsegError("give the new model a name")
        path = user_model_path(name)
        if path.exists():
            raise MedsegError(f"a model named '{name}' already exists: choose another name or delete it")
        return name, path

    def config(self) -> TrainConfig:
        """Training options from the controls (device ``auto``)."""
        by_time = self.minutes_radio.isChecked()
        return TrainConfig(
            epochs=None if by_time else self.epochs_spin.value(),
            max_minutes=self.minutes_spin.value() if by_time else None,
            steps_per_epoch=self.steps_spin.value(),
            batch_size=self.batch_spin.value(),
            crop=self.crop_spin.value(),
            lr=self.lr_spin.value(),
            freeze_encoder_steps=self.freeze_spin.value(),
            freeze_batchnorm=True,
            device="auto",
        )

    def reset_name(self) -> None:
        """Go back to the default name (base name + date, unused)."""
        self._set_default_name()
        self._check_name()

    def _on_base_changed(self, *_: object) -> None:
        if self._name_is_default:
            self._set_default_name()

    def _on_name_edited(self, text: str) -> None:
        self._name_is_default = not text

    def _set_default_name(self) -> None:
        base = self.base_name()
        if base:
            existing = [path.stem for path in user_models_dir().glob(f"*{MODEL_SUFFIX}")]
            self.name_edit.setText(default_model_name(base, existing))
        self._name_is_default = True

    def _check_name(self, *_: object) -> None:
        try:
            self.output_path()
        except MedsegError as exc:
            self.name_hint.setText(str(exc))
            self.name_hint.show()
        else:
            self.name_hint.hide()


def _int(low: int, high: int, value: int, name: str, tip: str) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    spin.setObjectName(name)
    spin.setToolTip(tip)
    return spin


def _double(
    low: float, high: float, value: float, step: float, name: str, suffix: str, decimals: int
) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setDecimals(decimals)
    spin.setRange(low, high)
    spin.setSingleStep(step)
    spin.setValue(value)
    spin.setSuffix(suffix)
    spin.setObjectName(name)
    return spin
