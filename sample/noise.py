"""Fractal value noise, evaluated at arbitrary coordinates so clouds can follow perspective."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Float = NDArray[np.float32]

_TABLE = 256


def _value_noise(u: Float, v: Float, table: Float) -> Float:
    """Smoothly interpolated lattice noise in [0, 1]; the lattice repeats every 256 cells."""
    flat = table.ravel()
    iu = np.floor(u)
    iv = np.floor(v)
    fu = u - iu
    fv = v - iv
    # Smoothstep weights hide the lattice's straight creases that bilinear weights leave.
    su = fu * fu * (3.0 - 2.0 * fu)
    sv = fv * fv * (3.0 - 2.0 * fv)
    mask = _TABLE - 1
    i0 = iu.astype(np.int32) & mask
    i1 = (i0 + 1) & mask
    j0 = (iv.astype(np.int32) & mask) * _TABLE
    j1 = (j0 + _TABLE) & (mask * _TABLE)
    a, b = flat.take(j0 + i0), flat.take(j0 + i1)
    c, d = flat.take(j1 + i0), flat.take(j1 + i1)
    top = a + (b - a) * su
    bottom = c + (d - c) * su
    return (top + (bottom - top) * sv).astype(np.float32)


def fbm(
    u: Float,
    v: Float,
    rng: np.random.Generator,
    *,
    octaves: int = 5,
    gain: float = 0.5,
    footprint: Float | None = None,
) -> Float:
    """Sum of noise octaves, normalised to about [0, 1].

    Parameters
    ----------
    u, v : lattice coordinates (one cell of the first octave per unit), broadcastable.
    rng : source of the lattice values and each octave's rotation and offset.
    octaves, gain : number of octaves; amplitude ratio between successive ones.
    footprint : lattice units covered by one pixel; octaves finer than a pixel fade to their
        mean instead of aliasing into speckle (clouds near the horizon).
    """
    u, v = np.broadcast_arrays(np.asarray(u, np.float32), np.asarray(v, np.float32))
    total = np.zeros(u.shape, dtype=np.float32)
    norm = 0.0
    amplitude = 1.0
    frequency = 1.0
    for _ in range(octaves):
        table = rng.random((_TABLE, _TABLE), dtype=np.float32)
        angle = rng.uniform(0.0, 2.0 * np.pi)
        cos, sin = np.float32(np.cos(angle)), np.float32(np.sin(angle))
        shift = rng.uniform(0.0, _TABLE, size=2).astype(np.float32)
        ru = (u * cos - v * sin) * np.float32(frequency) + shift[0]
        rv = (u * sin + v * cos) * np.float32(frequency) + shift[1]
        octave = _value_noise(ru, rv, table)
        if footprint is not None:
            keep = np.clip(2.0 - 4.0 * frequency * footprint, 0.0, 1.0).astype(np.float32)
            octave = 0.5 + (octave - 0.5) * keep
        total += np.float32(amplitude) * octave
        norm += amplitude
        amplitude *= gain
        frequency *= 2.0
    return total / np.float32(norm)


def ridge(length: int, cells: int, rng: np.random.Generator, octaves: int = 4) -> Float:
    """A 1-D fractal profile in [0, 1] (mountain ridges), ``cells`` features across ``length``."""
    x = np.arange(length, dtype=np.float32) * np.float32(cells / length)
    y = fbm(x, np.zeros_like(x), rng, octaves=octaves, gain=0.55)
    lo, hi = float(y.min()), float(y.max())
    return ((y - lo) / max(hi - lo, 1e-6)).astype(np.float32)
