"""What a trial costs as a session grows: recording 10,000 trials, each a (4 x 50) float array.

ours    io_core.stores.experiment: the array goes in through the redo journal (journal fsync,
        changed ranges written and fsynced), then one trials.csv line appended and fsynced
axopy   axopy 0.2.3's own TaskWriter (when importable): rebuilds the DataFrame and rewrites the
        whole trials.csv after every trial, opens the array file once per trial; no fsync

The target: the last 100 trials cost at most 1.5x the first 100 (O(1) per trial). Each
trial is timed alone; the table shows the median of the first and last 100 (fsync latency
spikes with the machine's load) and the whole run, and what the journal wrote per trial.

    python bench/experiment.py [--trials 10000] [--axopy-trials 10000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from io_core.stores.experiment import Storage

TARGET = 1.5
EDGE = 100


JOURNALED: list[int] = []  # bytes of each trial's journal entry (what one trial makes the writer write)


def _count_journal() -> None:
    from io_core.stores import experiment_journal as journal

    encode = journal.encode

    def counted(files, info):
        data = encode(files, info)
        JOURNALED.append(len(data))
        return data

    journal.encode = counted


def ours(root: Path, n: int) -> list[float]:
    _count_journal()
    storage = Storage(root / "ours")
    storage.subject_id = "p0"
    times = []
    with storage.create_task("reach") as writer:
        for i in range(n):
            arr = np.random.default_rng(i).standard_normal((4, 50))
            start = time.perf_counter()
            writer.write({"target": i % 8, "block": i // 100, "trial": i % 100}, {"emg": arr})
            times.append(time.perf_counter() - start)
    reader = storage.require_task("reach")
    assert len(reader.trials) == n
    return times


def axopy(root: Path, n: int) -> list[float] | None:
    try:
        from axopy.design import Design
        from axopy.storage import Storage as AxopyStorage
    except Exception:  # noqa: BLE001 - not installed, or its GUI stack does not import here
        return None
    storage = AxopyStorage(str(root / "axopy"))
    storage.subject_id = "p0"
    writer = storage.create_task("reach")
    design = Design()
    times = []
    block = None
    for i in range(n):
        if i % 100 == 0:
            block = design.add_block()
        trial = block.add_trial(attrs={"target": i % 8})
        trial.add_array("emg", stack_axis=1)
        trial.arrays["emg"].stack(np.random.default_rng(i).standard_normal((4, 50)))
        start = time.perf_counter()
        writer.write(trial)
        times.append(time.perf_counter() - start)
    return times


def row(name: str, times: list[float] | None, n: int) -> str:
    if times is None:
        return f"{name:<8} {'not importable':>14}"
    first = statistics.median(times[:EDGE]) * 1e3
    last = statistics.median(times[-EDGE:]) * 1e3
    return f"{name:<8} {len(times):>8} {first:>12.3f} {last:>12.3f} {last / first:>10.2f} {sum(times):>10.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--axopy-trials", type=int, default=10_000, help="0 skips axopy")
    parser.add_argument("--dir", default=None, help="folder to record in (default: a temp folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        mine = ours(root, args.trials)
        theirs = axopy(root, args.axopy_trials) if args.axopy_trials else None
    print(f"{'writer':<8} {'trials':>8} {'first ms':>12} {'last ms':>12} {'last/first':>10} {'total s':>10}")
    print(row("ours", mine, args.trials))
    print(row("axopy", theirs, args.axopy_trials))
    print(f"ours: journal bytes a trial, mean of the first {EDGE}: {statistics.mean(JOURNALED[:EDGE]):.0f}, "
          f"of the last {EDGE}: {statistics.mean(JOURNALED[-EDGE:]):.0f} (the trial's 1,600-byte array + metadata)")
    ratio = statistics.median(mine[-EDGE:]) / statistics.median(mine[:EDGE])
    print(f"target: last {EDGE} <= {TARGET}x first {EDGE} (ours): {'met' if ratio <= TARGET else 'MISSED'} ({ratio:.2f}x)")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
