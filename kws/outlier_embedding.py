"""A kws embedding as the MSWC builder's outlier-score embedding (a plugin: `corpus` never imports kws).

    python -m corpus mswc build ... --embedding kws.outlier_embedding:embedder=models/embeddings/<name>

`corpus.mswc.embedding` calls `embedder(folder)` once per worker process and then the returned function
on every clip (float32 audio at 16 kHz, 16,000 samples): the folder's encoder (the embedding model's
penultimate layer) on the KWS micro-frontend features of the clip.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from kws.embedding import Embedding
from kws.features import clip_features_int8, int8_to_float

__all__ = ["embedder"]


def embedder(folder: str) -> Callable[[np.ndarray], np.ndarray]:
    """The clip -> vector function of the kws embedding saved in `folder`."""
    encoder = Embedding.load(folder).encoder

    def embed(audio: np.ndarray) -> np.ndarray:
        features = int8_to_float(clip_features_int8(np.asarray(audio, dtype=np.float32)))
        return np.asarray(encoder(features[None], training=False), dtype=np.float32).reshape(-1)

    return embed
