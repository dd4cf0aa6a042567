"""Write the small example files the README's first commands open (run from anywhere: they land beside this script).

    python examples/make_examples.py

Each file is made by its own library (h5py, pandas, zarr), from seeded random numbers and without
timestamps, so running the script again gives the same bytes. All of them together stay well under 1 MB.

- ``recording.h5``: an HDF5 file with groups: two sessions of a 4-channel signal (gzip-compressed,
  chunked) with their sampling rate and channel names as attributes, and an events table.
- ``reaction_times.csv``: 60 trials of a reaction-time experiment (subject, condition, reaction time, accuracy).
- ``images.zarr``: a Zarr v3 store: a stack of 8 small images and their per-image mean intensity.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CHANNELS = ["Fz", "Cz", "Pz", "Oz"]
SFREQ = 250.0


def signal(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Alpha-like 10 Hz oscillation plus noise, one row per channel (microvolts)."""
    t = np.arange(int(seconds * SFREQ)) / SFREQ
    phases = rng.uniform(0, 2 * np.pi, size=(len(CHANNELS), 1))
    return (20 * np.sin(2 * np.pi * 10 * t + phases) + rng.normal(0, 5, (len(CHANNELS), t.size))).astype("float32")


def write_recording(path: Path, rng: np.random.Generator) -> None:
    import h5py

    with h5py.File(path, "w", track_order=True) as f:
        f.attrs["title"] = "Example EEG-like recording"
        f.attrs["subject"] = "S01"
        for name, seconds in (("session1", 8.0), ("session2", 6.0)):
            session = f.create_group(name, track_order=True)
            data = signal(rng, seconds)
            ds = session.create_dataset("eeg", data=data, chunks=(len(CHANNELS), 250), compression="gzip",
                                        shuffle=True, track_times=False)
            ds.attrs["sfreq"] = SFREQ
            ds.attrs["unit"] = "uV"
            ds.attrs["channels"] = CHANNELS
            onsets = np.sort(rng.uniform(0.5, seconds - 0.5, 6)).round(3)
            events = np.zeros(6, dtype=[("onset_s", "f8"), ("code", "i4")])
            events["onset_s"], events["code"] = onsets, rng.integers(1, 4, 6)
            session.create_dataset("events", data=events, track_times=False)


def write_reaction_times(path: Path, rng: np.random.Generator) -> None:
    import pandas as pd

    n = 60
    condition = np.tile(["congruent", "incongruent"], n // 2)
    rt = rng.normal(0.45, 0.06, n) + np.where(condition == "incongruent", 0.08, 0.0)
    frame = pd.DataFrame({
        "subject": np.repeat([f"S{i:02d}" for i in range(1, 4)], n // 3),
        "trial": np.tile(np.arange(1, n // 3 + 1), 3),
        "condition": condition,
        "reaction_time_s": rt.round(3),
        "correct": rng.random(n) > 0.1,
    })
    frame.to_csv(path, index=False)


def write_images(path: Path, rng: np.random.Generator) -> None:
    import zarr

    if path.exists():
        shutil.rmtree(path)
    yy, xx = np.mgrid[0:32, 0:32]
    stack = np.stack([np.exp(-((xx - 4 * i - 2) ** 2 + (yy - 16) ** 2) / 40.0) for i in range(8)])
    stack = (stack * 200 + rng.normal(0, 4, stack.shape)).clip(0, 255).astype("uint8")
    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    root.attrs["description"] = "A bright spot moving left to right"
    images = root.create_array("images", shape=stack.shape, dtype="uint8", chunks=(8, 32, 32))
    images[:] = stack
    images.attrs["axes"] = ["frame", "y", "x"]
    means = root.create_array("mean_intensity", shape=(8,), dtype="float32", chunks=(8,))
    means[:] = stack.mean(axis=(1, 2)).astype("float32")


def main(folder: Path = HERE) -> list[Path]:
    rng = np.random.default_rng(16)
    made = [folder / "recording.h5", folder / "reaction_times.csv", folder / "images.zarr"]
    write_recording(made[0], rng)
    write_reaction_times(made[1], rng)
    write_images(made[2], rng)
    return made


if __name__ == "__main__":
    for made in main():
        print(made.relative_to(Path.cwd()) if made.is_relative_to(Path.cwd()) else made)
