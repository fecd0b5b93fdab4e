"""Named antenna arrays (radar frame, mm), below :class:`~radarface.radar.config.RadarConfig`,
whose :meth:`~radarface.radar.config.RadarConfig.preset` builds a config from them."""

from __future__ import annotations

import numpy as np


#: QAR50-type array (Rohde & Schwarz QAR50 as in the MAROON dataset): elements per column or row,
#: their pitch (mm) and the offset (mm) of the columns (transmitters) and rows (receivers).
QAR50_LAYOUT: dict[str, float] = {"per_edge": 47, "pitch_mm": 3.0, "offset_mm": 70.5}


def qar50_positions() -> tuple[np.ndarray, np.ndarray]:
    """QAR50-type array in the radar frame (mm): 94 transmitters in two columns at x = ±70.5 mm and
    94 receivers in two rows at y = ±70.5 mm, 3 mm pitch centred on the axis (±69 mm), z = 0.

    >>> tx, rx = qar50_positions()
    >>> tx.shape, float(tx[0, 0]), float(tx[0, 1]), float(rx[-1, 1])
    ((94, 3), -70.5, -69.0, 70.5)
    """
    n, pitch, offset = int(QAR50_LAYOUT["per_edge"]), QAR50_LAYOUT["pitch_mm"], QAR50_LAYOUT["offset_mm"]
    along = (np.arange(n) - (n - 1) / 2) * pitch
    out = []
    for axis in (0, 1):  # transmitters: columns (fixed x); receivers: rows (fixed y)
        edges = []
        for sign in (-1.0, 1.0):
            edge = np.zeros((n, 3))
            edge[:, axis] = sign * offset
            edge[:, 1 - axis] = along
            edges.append(edge)
        out.append(np.concatenate(edges))
    return out[0], out[1]


def array_preset(name: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Transmitter (Nt, 3) and receiver (Nr, 3) positions (radar frame, mm) of a named array:
    ``"qar50"`` (:func:`qar50_positions`), or ``"square"`` → (None, None) (the config's default square)."""
    presets = {"square": lambda: (None, None), "qar50": qar50_positions}
    if name not in presets:
        raise ValueError(f"unknown array preset {name!r}; known: {sorted(presets)}")
    return presets[name]()
