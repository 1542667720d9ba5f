"""Regenerate the signal-integrity part of the bad-input corpus (issue 22) from the bundled batch.

    uv run python tests/bad_inputs/make_signal_corpus.py

Each file is P002's injection of ``sample_data/lcmsms`` with one channel damaged the way a
detector or an export damages it; ``signal_manifest.csv`` lists the flag thioquant must put on
P002's result instead of interpreting a changed value (tests/test_signal_integrity.py replaces
P002 with each file). Kept apart from ``manifest.csv`` and ``make_corpus.py``, which
regenerate the rest of the corpus.
"""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
P002 = HERE.parents[1] / "sample_data" / "lcmsms" / "raw" / "016_P002.mzML"
TG, TG_IS = (168.0, 151.0), (171.0, 154.0)


def _flat(t, y):
    return np.minimum(y, 0.15 * y.max())


def _spike(t, y):
    y[np.searchsorted(t, 1.40)] = 1e9
    return y


def _cut(t, y):
    m = (t > 1.3) & (t < 1.6)
    base = np.median(y)
    y[m] = base + (y[m] - base) * 0.3
    return y


#: (file, channel, edit, expected flag on P002's 6-TG result, what)
CASES = [
    ("flat_top_6tg.mzML", TG, _flat, "HELD:SATURATED", "6-TG peak flat-topped at 15 % (detector saturation)"),
    ("spike_6tg.mzML", TG, _spike, "SPIKE", "one point of 1e9 inside the 6-TG window"),
    ("zero_6tg.mzML", TG, lambda t, y: 0 * y, "DEAD_CHANNEL", "6-TG trace all zero"),
    ("constant_6tg.mzML", TG, lambda t, y: 0 * y + 50.0, "DEAD_CHANNEL", "6-TG trace constant"),
    ("inverted_6tg.mzML", TG, lambda t, y: -y, "DEAD_CHANNEL", "6-TG trace inverted (negative counts)"),
    ("is_cut_6tg.mzML", TG_IS, _cut, "HELD:IS_RESPONSE", "6-TG internal standard peak cut to 30 %"),
]


def main() -> None:
    from thioquant.io import read_run
    from thioquant.io.mzml import write_mzml

    run = read_run(P002)
    rows = []
    for name, (pre, prod), edit, flag, what in CASES:
        traces = []
        for tr in run.traces:
            ch = tr.channel
            if ch.kind == "srm" and abs(ch.precursor_mz - pre) < 0.3 and abs(ch.product_mz - prod) < 0.3:
                tr = replace(tr, signal=edit(tr.time_min, np.array(tr.signal, dtype=float)))
            traces.append(tr)
        write_mzml(HERE / "signal" / name, replace(run, traces=tuple(traces)))
        rows.append((f"signal/{name}", flag, what))
    with open(HERE / "signal_manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["path", "needle", "what"])
        w.writerows(rows)


if __name__ == "__main__":
    main()
