"""Wall time of the similar-samples components at real size, on one thread.

Prints one JSON line per measurement, with the wall time of the step, the
process's cumulative CPU time (``cpu_s``: on a shared machine the difference
between consecutive lines is the step's idle-machine time) and the load average. Sections (all by default):
  images  block-mask copies (50 targets x 50 copies) on Fashion-MNIST, a CNN
          trained on 3,000 images + the copies, model inversion of 10 classes, SSIM
  minilm  load all-MiniLM-L6-v2 and embed the 12,808 Rotten Tomatoes snippets
  classify  bag-of-embeddings on Rotten Tomatoes and BBC News (train + test accuracy)
  lm      TinyGPT (2 layers, d_model 128, context 128) on Rotten Tomatoes "small"
          with 10 canaries per k in {0, 1, 5, 10, 50} (paraphrases), then exposure

    PYTHONPATH=src python benchmarks/similar_components_timing.py [section ...] [--lm-epochs N]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

from unlearnkit.data.similar import SIMILAR_CONSTRUCTORS, attach_similar
from unlearnkit.data.text import (
    TEXT_DATASETS,
    ByteTokenizer,
    as_corpus,
    insert_canaries,
    make_canaries,
)
from unlearnkit.training import TrainSpec, accuracy, train_model


def emit(**fields: object) -> None:
    """One JSON line; ``cpu_s`` is this process's CPU time so far (on one thread, the wall time of an idle machine)."""
    print(json.dumps({"load": round(os.getloadavg()[0], 2), "cpu_s": round(time.process_time(), 1), **fields}), flush=True)


def images(grid: str | None) -> None:
    from unlearnkit.data import DATASETS, SELECTORS, SplitSpec
    from unlearnkit.metrics.reconstruction import (
        ModelInversion,
        PixelRange,
        save_reconstruction_grid,
        ssim,
    )
    from unlearnkit.models import MODELS

    data = DATASETS["fashion_mnist"]().load()
    split = SplitSpec(train_size=3000, test_size=2000, validation_fraction=0.02, seed=0).build(data, SELECTORS["random"](count=50))
    start = time.perf_counter()
    built = SIMILAR_CONSTRUCTORS["block_mask"](block=4, ratio=0.25, copies=50).construct(
        data, split.forget, generator=torch.Generator().manual_seed(0)
    )
    extended = attach_similar(split, built.similar)
    emit(step="block_mask 50 targets x 50 copies", seconds=round(time.perf_counter() - start, 2), train=int(extended.train.size))
    g = torch.Generator().manual_seed(0)
    model = MODELS["cnn"](channels=16, hidden=128).build(built.data.meta, g)
    index = torch.as_tensor(extended.train)
    log = train_model(model, built.data.x[index], built.data.y[index], TrainSpec(epochs=30, batch_size=64, lr=0.05), g)
    emit(step="cnn 30 epochs on 3000 + 2500 copies", seconds=round(log.seconds, 1), train_acc=round(log.train_accuracy, 4))
    pixel_range = PixelRange.of(data.x)
    mean_image = built.data.x[index].mean(0)
    start = time.perf_counter()
    recon = ModelInversion().invert(model, list(range(10)), mean_image, pixel_range)
    emit(step="model inversion 10 classes x 200 steps", seconds=round(time.perf_counter() - start, 2))
    start = time.perf_counter()
    targets = data.x[torch.as_tensor(split.forget)]
    values = ssim(recon[data.y[torch.as_tensor(split.forget)]], targets, pixel_range)
    emit(step="ssim 50 pairs", seconds=round(time.perf_counter() - start, 3), mean_ssim=round(float(values.mean()), 4))
    if grid:
        first = torch.as_tensor(split.forget[:6])
        copies = torch.as_tensor([int(built.similar.similar_to(int(t))[0]) for t in first])
        columns = {"target": data.x[first], "a block-masked copy": built.data.x[copies], "class inversion": recon[data.y[first]]}
        save_reconstruction_grid(grid, columns, pixel_range, row_labels=[f"row {int(i)}" for i in first])


def minilm() -> None:
    from unlearnkit.data.similar.encoders import SentenceEncoder

    data = TEXT_DATASETS["rotten_tomatoes"]().load()
    encoder = SentenceEncoder()
    start = time.perf_counter()
    encoder.encode(data.texts[:2])
    emit(step="minilm load", seconds=round(time.perf_counter() - start, 2))
    start = time.perf_counter()
    encoder.encode(list(data.texts))
    emit(step=f"minilm embed {len(data)} snippets", seconds=round(time.perf_counter() - start, 1))


def classify() -> None:
    from unlearnkit.data.dataset import DatasetMeta
    from unlearnkit.models.text import TEXT_CLASSIFIERS

    for name, max_len in (("rotten_tomatoes", 64), ("bbc_news", 512)):
        data = TEXT_DATASETS[name]().load()
        assert data.y is not None
        order = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))
        test, train = order[: len(data) // 5], order[len(data) // 5 :]
        builder = TEXT_CLASSIFIERS["bag_of_embeddings"](dim=32, buckets=2**16, ngrams=2, max_len=max_len)
        tok = builder.tokenizer()
        start = time.perf_counter()
        ids = tok.encode_batch(data.texts)
        tokenise = time.perf_counter() - start
        g = torch.Generator().manual_seed(0)
        meta = DatasetMeta(data.name, 1, 1, max_len, data.n_classes, len(data), data.group_name, (max_len,))
        model = builder.build(meta, g)
        log = train_model(
            model, ids[train], data.y[train], TrainSpec(epochs=5, batch_size=64, lr=1e-2, weight_decay=0.0, optimizer="adam"), g
        )
        emit(
            step=f"bag_of_embeddings {name}",
            tokenise_s=round(tokenise, 1),
            train_s=round(log.seconds, 1),
            train_acc=round(log.train_accuracy, 4),
            test_acc=round(accuracy(model, ids[test], data.y[test]), 4),
        )


def lm(epochs: int) -> None:
    from unlearnkit.metrics.exposure import canary_exposures
    from unlearnkit.models.text import TinyGPT
    from unlearnkit.training.language_model import (
        LMTrainSpec,
        sequence_losses,
        train_language_model,
    )

    g = torch.Generator().manual_seed(0)
    corpus = as_corpus(TEXT_DATASETS["rotten_tomatoes"](variant="small").load())
    ks = (0, 1, 5, 10, 50)
    canaries = make_canaries(10 * len(ks), g)
    data, rows = insert_canaries(corpus, canaries)
    for i, k in enumerate(ks):
        if k:
            built = SIMILAR_CONSTRUCTORS["paraphrase"](copies=k).construct(data, rows[10 * i : 10 * (i + 1)], generator=g)
            data = built.data
    tok = ByteTokenizer()
    documents = [tok.encode(t, bos=True) for t in data.texts]
    n_tokens = sum(len(d) for d in documents)
    model = TinyGPT().build(256, torch.Generator().manual_seed(0))
    log = train_language_model(
        model, documents, LMTrainSpec(epochs=epochs, batch_size=32, lr=3e-3, warmup_steps=100), torch.Generator().manual_seed(0)
    )
    emit(
        step=f"tiny_gpt {epochs} epochs",
        corpus_bytes=n_tokens,
        seconds=round(log.seconds, 1),
        tokens_per_s=round(log.tokens / log.seconds),
        final_loss=round(log.final_loss, 3),
    )
    start = time.perf_counter()
    losses = sequence_losses(model, documents)
    emit(
        step=f"per-document losses ({len(documents)} docs)",
        seconds=round(time.perf_counter() - start, 1),
        mean_nats=round(float(losses.mean()), 3),
    )
    start = time.perf_counter()
    exposures = canary_exposures(model, canaries, torch.Generator().manual_seed(1), n_candidates=2000)
    emit(step="exposure 50 canaries x 2000 candidates", seconds=round(time.perf_counter() - start, 1))
    for i, k in enumerate(ks):
        group = exposures[10 * i : 10 * (i + 1)]
        emit(
            k=k,
            sampled_bits=round(float(np.mean([e.sampled_bits for e in group])), 2),
            skew_normal_bits=round(float(np.mean([e.skew_normal_bits for e in group])), 2),
            skew_normal_min_max=[round(min(e.skew_normal_bits for e in group), 1), round(max(e.skew_normal_bits for e in group), 1)],
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sections", nargs="*", default=["images", "minilm", "classify", "lm"])
    parser.add_argument("--lm-epochs", type=int, default=8)
    parser.add_argument("--grid", help="write a PNG grid of targets and reconstructions here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for section in args.sections:
        if section == "lm":
            lm(args.lm_epochs)
        else:
            {"images": lambda: images(args.grid), "minilm": minilm, "classify": classify}[section]()


if __name__ == "__main__":
    main()
