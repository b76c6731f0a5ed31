"""Writes the int8 calibration samples used by tests and `tools/quant_accuracy.py`.

- `digits_cnn_calibration.npz`: real data — the first 256 images of the digits CNN's *training*
  split (sklearn `load_digits`, the same `train_test_split(test_size=0.25, random_state=0)` as
  `make_tf_fixtures.py`), so calibration never sees the test set the accuracy is measured on.
- `synthetic_samples(shape, count, seed)`: seeded standard-normal inputs, for models whose fixture
  inputs are themselves synthetic (MobileNetV2 with random weights, the transformer block, the MLP).
  They are generated where they are used, never stored.

Needs scikit-learn (a tool dependency, not a graphc one). Run: `python tools/make_calibration_samples.py`.
"""

from __future__ import annotations

import os

import numpy as np

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "tf")
DIGITS_CALIBRATION = os.path.join(FIXTURES, "digits_cnn_calibration.npz")


def synthetic_samples(shape: tuple[int, ...], count: int, seed: int = 1234) -> np.ndarray:
    """`count` seeded standard-normal samples of `shape` (float32), stacked on a new first axis."""
    return np.random.default_rng(seed).standard_normal((count, *shape)).astype(np.float32)


def digits_training_images(count: int = 256) -> np.ndarray:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., None]
    x_train, _, _, _ = train_test_split(images, digits.target, test_size=0.25, random_state=0)
    return x_train[:count]


def main() -> None:
    np.savez_compressed(DIGITS_CALIBRATION, image=digits_training_images())
    print(f"wrote {os.path.normpath(DIGITS_CALIBRATION)}")


if __name__ == "__main__":
    main()
