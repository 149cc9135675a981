"""Prepared images are the same bytes whatever PyTorch's thread count (every process of a sweep must agree)."""

from __future__ import annotations

import numpy as np
import torch

from unlearnkit.data.dataset import standardise


def test_standardised_images_do_not_depend_on_the_thread_count() -> None:
    # 5,000 images of 28 x 28: large enough that PyTorch splits a float32 sum over threads (an
    # implementation with torch's mean/std gave different bytes here with 1 and 2 threads).
    images = np.random.default_rng(0).integers(0, 256, size=(5000, 1, 28, 28), dtype=np.uint8)
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            results.append(standardise(images))
    finally:
        torch.set_num_threads(before)
    assert torch.equal(results[0], results[1])
    x = results[0].double()
    assert abs(float(x.mean())) < 1e-5 and abs(float(x.std()) - 1.0) < 1e-5
    assert results[0].dtype == torch.float32 and results[0].shape == images.shape
