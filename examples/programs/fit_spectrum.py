"""Fit a Gaussian peak on a flat background to a spectrum: an external analysis program.

A stand-in for the analysis programs a lab runs beside its instruments, written to be
run by `labthings.run_program` (it needs nothing but Python):

    python fit_spectrum.py [INPUT.json] [--bootstrap N] [--delay SECONDS]

It reads `{"wavelengths": [...], "counts": [...]}` from INPUT.json (default `input.json`
in its working folder), fits counts = background + amplitude * exp(-(x - centre)^2 / (2
sigma^2)) by Levenberg-Marquardt, then refits N spectra made of the fit plus resampled
residuals (a bootstrap, 20 by default) for the uncertainty of the centre and width. It
writes:

- `status.txt`, rewritten whole as it goes: a percentage and a short message;
- a line per fit on its standard output (error messages on its error output);
- `result.json`: the fitted parameters, the peak's full width at half maximum, the RMS
  residual and the bootstrap's standard deviations of centre and FWHM.

It exits with 2 for unusable input (its error output says why) and 3 if the fit does
not converge. `--delay` waits that long after each fit, to watch it run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path

MAX_ITERATIONS = 50
TOLERANCE = 1e-9  # relative change of the squared residual that counts as converged
FWHM_PER_SIGMA = 2 * math.sqrt(2 * math.log(2))

Parameters = list[float]  # background, amplitude, centre, sigma


def main(argv: list[str]) -> int:
    options = _parse(argv)
    try:
        x, y = _load(Path(options.input))
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"fit_spectrum: unusable input {options.input}: {error}", file=sys.stderr)
        return 2
    _status(0, "fitting")
    print(f"fitting a Gaussian peak to {len(x)} points", flush=True)
    fitted, iterations, converged = _fit(x, y, _first_guess(x, y))
    if not converged:
        print(f"fit_spectrum: no convergence in {MAX_ITERATIONS} iterations", file=sys.stderr)
        return 3
    background, amplitude, centre, sigma = fitted
    fwhm = abs(sigma) * FWHM_PER_SIGMA
    print(f"fit: peak at {centre:.3f}, FWHM {fwhm:.3f} ({iterations} iterations)", flush=True)
    centres, widths = _bootstrap(x, y, fitted, options.bootstrap, options.delay)
    result = {
        "background": background,
        "amplitude": amplitude,
        "centre": centre,
        "sigma": abs(sigma),
        "fwhm": fwhm,
        "rms_residual": math.sqrt(_squared_residual(x, y, fitted) / len(x)),
        "iterations": iterations,
        "centre_sd": statistics.stdev(centres) if len(centres) > 1 else None,
        "fwhm_sd": statistics.stdev(widths) if len(widths) > 1 else None,
    }
    Path("result.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    _status(100, "done")
    return 0


def _bootstrap(
    x: list[float], y: list[float], fitted: Parameters, count: int, delay: float
) -> tuple[list[float], list[float]]:
    """Refit `count` spectra of the fit plus resampled residuals: their centres and FWHMs."""
    chance = random.Random(0)  # the same spectrum gives the same result
    model = [_model(xi, fitted) for xi in x]
    residuals = [yi - mi for yi, mi in zip(y, model, strict=True)]
    centres: list[float] = []
    widths: list[float] = []
    for run in range(1, count + 1):
        resampled = [mi + chance.choice(residuals) for mi in model]
        refitted, _, converged = _fit(x, resampled, fitted)
        if converged:
            centres.append(refitted[2])
            widths.append(abs(refitted[3]) * FWHM_PER_SIGMA)
        print(f"bootstrap {run}/{count}: centre {refitted[2]:.3f}", flush=True)
        _status(100 * run / (count + 1), f"bootstrap {run} of {count}")
        if delay:
            time.sleep(delay)
    return centres, widths


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Fit a Gaussian peak to a spectrum.")
    parser.add_argument("input", nargs="?", default="input.json")
    parser.add_argument("--bootstrap", type=int, default=20, help="refits for uncertainties")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds after each fit")
    return parser.parse_args(argv)


def _load(path: Path) -> tuple[list[float], list[float]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    x = [float(value) for value in data["wavelengths"]]
    y = [float(value) for value in data["counts"]]
    if len(x) != len(y) or len(x) < 5:
        raise ValueError("need as many counts as wavelengths, and at least 5 of each")
    if not all(math.isfinite(value) for value in x + y):
        raise ValueError("every wavelength and count must be a finite number")
    return x, y


def _first_guess(x: list[float], y: list[float]) -> Parameters:
    """Background from the lowest counts, the peak at the highest, sigma from its width."""
    background = min(y)
    peak = max(range(len(y)), key=y.__getitem__)
    amplitude = y[peak] - background
    above_half = [x[i] for i in range(len(x)) if y[i] - background >= amplitude / 2]
    width = (max(above_half) - min(above_half)) or abs(x[1] - x[0])
    return [background, amplitude, x[peak], width / FWHM_PER_SIGMA]


def _model(x: float, p: Parameters) -> float:
    background, amplitude, centre, sigma = p
    return background + amplitude * math.exp(-((x - centre) ** 2) / (2 * sigma**2))


def _jacobian_row(x: float, p: Parameters) -> list[float]:
    _, amplitude, centre, sigma = p
    g = math.exp(-((x - centre) ** 2) / (2 * sigma**2))
    return [
        1.0,
        g,
        amplitude * g * (x - centre) / sigma**2,
        amplitude * g * (x - centre) ** 2 / sigma**3,
    ]


def _squared_residual(x: list[float], y: list[float], p: Parameters) -> float:
    return sum((yi - _model(xi, p)) ** 2 for xi, yi in zip(x, y, strict=True))


def _fit(x: list[float], y: list[float], p: Parameters) -> tuple[Parameters, int, bool]:
    """Levenberg-Marquardt: (parameters, iterations, converged)."""
    damping = 1e-3
    error = _squared_residual(x, y, p)
    for iteration in range(1, MAX_ITERATIONS + 1):
        step = _step(x, y, p, damping)
        trial = [a + b for a, b in zip(p, step, strict=True)]
        trial_error = _squared_residual(x, y, trial) if trial[3] != 0 else math.inf
        if trial_error < error:
            change = (error - trial_error) / max(error, 1e-300)
            p, error, damping = trial, trial_error, damping / 10
            if change < TOLERANCE:
                return p, iteration, True
        else:
            damping *= 10
            if damping > 1e12:
                return p, iteration, error < math.inf
    return p, MAX_ITERATIONS, False


def _step(x: list[float], y: list[float], p: Parameters, damping: float) -> list[float]:
    """Solve (JᵀJ + damping·diag(JᵀJ)) step = Jᵀr."""
    n = len(p)
    jtj = [[0.0] * n for _ in range(n)]
    jtr = [0.0] * n
    for xi, yi in zip(x, y, strict=True):
        row = _jacobian_row(xi, p)
        residual = yi - _model(xi, p)
        for i in range(n):
            jtr[i] += row[i] * residual
            for j in range(n):
                jtj[i][j] += row[i] * row[j]
    for i in range(n):
        jtj[i][i] *= 1 + damping
    return _solve(jtj, jtr)


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting; zeros for a singular system."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        if abs(m[pivot][col]) < 1e-300:
            return [0.0] * n
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(col + 1, n):
            factor = m[r][col] / m[col][col]
            for c in range(col, n + 1):
                m[r][c] -= factor * m[col][c]
    solution = [0.0] * n
    for r in range(n - 1, -1, -1):
        known = sum(m[r][c] * solution[c] for c in range(r + 1, n))
        solution[r] = (m[r][n] - known) / m[r][r]
    return solution


def _status(percent: float, message: str) -> None:
    """Rewrite status.txt whole (write, then rename), so a reader never sees half of it."""
    Path("status.tmp").write_text(f"{percent:.0f} {message}\n", encoding="utf-8")
    os.replace("status.tmp", "status.txt")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
