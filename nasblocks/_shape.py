"""Shapes per image, without the batch dimension, and how they print: ``(C, H, W)`` for feature
maps, ``(F,)`` once flattened. Kept apart from the op registry so that the command line prints
shapes without importing torch."""

from __future__ import annotations

Shape = tuple[int, ...]


def fmt_shape(shape: Shape) -> str:
    """``(3, 224, 224)`` as ``3×224×224``."""
    return "×".join(str(d) for d in shape)
