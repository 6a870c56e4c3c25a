"""Distributions of workload quantities across VMs.

A workload class gives, for example, the full VM exits per vCPU-second of its VMs not as
one number but as a distribution: each VM draws its own rate when it is created, so the
fleet shows the spread that drives p99 hosts. Four shapes cover what the data sources
give: a fixed value, a log-normal (median and sigma of the log, for heavy-tailed rates
and lifetimes), a uniform range, and a discrete choice with weights (vCPUs per VM).
"""

from __future__ import annotations

import functools
import math
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from amxmodel.common.errors import InputError


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def bounds(self) -> tuple[float, float]:
        """Smallest and largest value the distribution can produce."""
        raise NotImplementedError

    def mean(self) -> float:
        """Expected value."""
        raise NotImplementedError

    def center(self) -> float:
        """The representative value that sensitivity sweeps move (median or value)."""
        return self.mean()

    def scaled_to(self, center: float) -> Dist:
        """The same shape moved so that ``center()`` equals ``center``."""
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent draws as float64."""
        raise NotImplementedError

    def sample_length_biased(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draws with density proportional to ``x f(x)``: the lifetime of the VM found in a
        slot at a random moment of a stationary renewal process (inspection paradox)."""
        raise NotImplementedError


class Fixed(_Dist):
    """Always the same value."""

    dist: Literal["fixed"] = "fixed"
    value: float = Field(allow_inf_nan=False)

    def bounds(self):
        return (self.value, self.value)

    def mean(self):
        return self.value

    def scaled_to(self, center):
        return Fixed(value=center)

    def sample(self, rng, n):
        return np.full(n, self.value, dtype=np.float64)

    def sample_length_biased(self, rng, n):
        return self.sample(rng, n)


class LogNormal(_Dist):
    """Log-normal with the given median and sigma of the natural log."""

    dist: Literal["lognormal"]
    median: float = Field(gt=0, allow_inf_nan=False)
    sigma: float = Field(ge=0, le=5, allow_inf_nan=False)

    def bounds(self):
        return (0.0, math.inf) if self.sigma > 0 else (self.median, self.median)

    def mean(self):
        return self.median * math.exp(self.sigma**2 / 2)

    def center(self):
        return self.median

    def scaled_to(self, center):
        return LogNormal(dist="lognormal", median=center, sigma=self.sigma)

    def sample(self, rng, n):
        return rng.lognormal(math.log(self.median), self.sigma, n)

    def sample_length_biased(self, rng, n):
        # x * LN(mu, s^2) density is LN(mu + s^2, s^2) up to normalization
        return rng.lognormal(math.log(self.median) + self.sigma**2, self.sigma, n)


class Uniform(_Dist):
    """Uniform on [low, high]."""

    dist: Literal["uniform"]
    low: float = Field(allow_inf_nan=False)
    high: float = Field(allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self):
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) must be >= low ({self.low})")
        return self

    def bounds(self):
        return (self.low, self.high)

    def mean(self):
        return (self.low + self.high) / 2

    def scaled_to(self, center):
        half = (self.high - self.low) / 2
        return Uniform(dist="uniform", low=max(center - half, 0.0), high=center + half)

    def sample(self, rng, n):
        return rng.uniform(self.low, self.high, n)

    def sample_length_biased(self, rng, n):
        if self.high <= 0 or self.high == self.low:
            return self.sample(rng, n)
        lo2 = max(self.low, 0.0) ** 2  # density ~ x on [low, high]: inverse CDF
        return np.sqrt(lo2 + rng.uniform(0.0, 1.0, n) * (self.high**2 - lo2))


class Choice(_Dist):
    """One of ``values`` with probabilities ``weights`` (normalized)."""

    dist: Literal["choice"]
    values: list[float] = Field(min_length=1)
    weights: list[float] | None = None

    @model_validator(mode="after")
    def _weights(self):
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError(
                    f"weights has {len(self.weights)} entries but values has {len(self.values)}"
                )
            if any(w < 0 or not math.isfinite(w) for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError("weights must be finite, >= 0 and not all 0")
        if any(not math.isfinite(v) for v in self.values):
            raise ValueError("values must be finite")
        return self

    @property
    def probs(self) -> np.ndarray:
        w = np.ones(len(self.values)) if self.weights is None else np.asarray(self.weights, float)
        return w / w.sum()

    def bounds(self):
        return (min(self.values), max(self.values))

    def mean(self):
        return float(np.dot(self.probs, self.values))

    def scaled_to(self, center):
        factor = center / self.mean() if self.mean() else 0.0
        return Choice(dist="choice", values=[v * factor for v in self.values], weights=self.weights)

    def sample(self, rng, n):
        return np.asarray(self.values, float)[rng.choice(len(self.values), n, p=self.probs)]

    def sample_length_biased(self, rng, n):
        v = np.asarray(self.values, float)
        w = self.probs * np.clip(v, 0.0, None)
        if w.sum() <= 0:
            return self.sample(rng, n)
        return v[rng.choice(len(v), n, p=w / w.sum())]


@functools.lru_cache(maxsize=8)
def _gauss(family: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss nodes and normalized weights of a polynomial family (computed once per n)."""
    z, w = (np.polynomial.hermite_e.hermegauss(n) if family == "hermite_e"
            else np.polynomial.legendre.leggauss(n))
    z.flags.writeable = False
    w = w / w.sum()
    w.flags.writeable = False
    return z, w


def quadrature(dist: _Dist, lo: float = -math.inf, hi: float = math.inf, n: int = 96):
    """Nodes and weights for expectations over ``dist`` clipped to [lo, hi] (no sampling).

    Log-normal: Gauss-Hermite in log space; uniform: Gauss-Legendre; choice and fixed:
    their own values. Clipping matches what the engine does to its draws.
    """
    if isinstance(dist, LogNormal):
        z, w = _gauss("hermite_e", n)
        x = dist.median * np.exp(dist.sigma * z)
    elif isinstance(dist, Uniform):
        z, w = _gauss("legendre", n)
        x = dist.low + (z + 1) * (dist.high - dist.low) / 2
    elif isinstance(dist, Choice):
        x, w = np.asarray(dist.values, float), dist.probs
    else:
        x, w = np.array([dist.value], float), np.array([1.0])
    return np.clip(x, lo, hi), w


Dist = Annotated[Fixed | LogNormal | Uniform | Choice, Field(discriminator="dist")]
_ADAPTER = TypeAdapter(Dist)
KINDS = ("fixed", "lognormal", "uniform", "choice")


def parse_dist(raw, where: str) -> _Dist:
    """A number or a ``{dist: ...}`` mapping as a distribution; errors name ``where``."""
    if isinstance(raw, bool):
        raise InputError(f"{where}: expected a number or a distribution, got {raw!r}")
    if isinstance(raw, (int, float)):
        if not math.isfinite(raw):
            raise InputError(f"{where}: must be finite, got {raw}")
        return Fixed(value=float(raw))
    if not isinstance(raw, dict) or "dist" not in raw:
        raise InputError(
            f"{where}: expected a number or a mapping with 'dist' (one of {', '.join(KINDS)}), "
            f"got {raw!r}"
        )
    if raw["dist"] not in KINDS:
        raise InputError(f"{where}: unknown dist '{raw['dist']}'; allowed: {', '.join(KINDS)}")
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        raise InputError(f"{where}: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err["loc"][1:]) if len(err["loc"]) > 1 else ""
    msg = err["msg"].removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg
