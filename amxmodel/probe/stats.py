"""Robust estimates with 95 % confidence intervals from batch means.

A price is measured in many short batches (each the mean over a few hundred calls), the
conditions alternating in a random order, after warm-up batches that are dropped. On a
shared machine a batch can be hit by an interrupt or another tenant's task, so batch
means have heavy right tails: the estimators are medians, and the intervals come from a
bootstrap over batches (percentile method, a fixed seed so that a report can be redone).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BOOT_REPS = 2000
SEED = 20211116


@dataclass(frozen=True)
class Estimate:
    """A price: point value, 95 % interval, number of batches (pairs) and calls behind it."""

    value: float
    ci95_low: float
    ci95_high: float
    n: int  # batches (or batch pairs for a difference)
    calls: int  # individual operations timed
    unit: str = "cycles"

    def as_dict(self) -> dict:
        return {"value": _r(self.value), "ci95_low": _r(self.ci95_low),
                "ci95_high": _r(self.ci95_high), "unit": self.unit, "n": self.n,
                "calls": self.calls}

    def scaled(self, k: float) -> Estimate:
        lo, hi = sorted((self.ci95_low * k, self.ci95_high * k))
        return Estimate(self.value * k, lo, hi, self.n, self.calls, self.unit)


def _r(x: float) -> float:
    return float(f"{x:.4g}")


def _boot_medians(x: np.ndarray, rng: np.random.Generator, reps: int) -> np.ndarray:
    idx = rng.integers(0, len(x), size=(reps, len(x)))
    return np.median(x[idx], axis=1)


def median_ci(x, calls: int, reps: int = BOOT_REPS, seed: int = SEED) -> Estimate:
    """Median of batch means with a bootstrap 95 % interval."""
    x = np.asarray(x, dtype=float)
    if len(x) < 3:
        raise ValueError("need at least 3 batches for an interval")
    boots = _boot_medians(x, np.random.default_rng(seed), reps)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return Estimate(float(np.median(x)), float(lo), float(hi), len(x), calls)


def paired_diff(a, b, calls: int, reps: int = BOOT_REPS, seed: int = SEED) -> Estimate:
    """Median of the differences a_i - b_i of batches run next to each other, with a
    bootstrap interval over the pairs (a slow period of the machine hits both)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    return median_ci(d, calls, reps, seed)


def boot_paired(a, b, reps: int = BOOT_REPS, seed: int = SEED) -> np.ndarray:
    """Bootstrap replicates of the median paired difference (to combine estimates)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    return _boot_medians(d, np.random.default_rng(seed), reps)


def combine(point: float, boots: np.ndarray, n: int, calls: int) -> Estimate:
    """An estimate from a point value and bootstrap replicates of the same expression."""
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return Estimate(float(point), float(lo), float(hi), n, calls)
