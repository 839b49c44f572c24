"""`real_embedding_ncm` of `bench/kws.py`: is it the embedding or the head? How the keyword embedding groups
real voices, with no head and no threshold."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def real_embedding_ncm(encoder, root: Path, *, shots: int = 5, trials: int = 5, seed: int = 0) -> dict:
    """Is it the embedding or the head? 5-shot nearest-class-mean accuracy of every real Speech Commands word
    with >= shots + 1 speakers, in the embedding space (cosine; shots from `shots` speakers, tests from the
    others; mean of `trials` seeded draws): no head, no threshold, only how the embedding groups real voices."""
    import csv

    from corpus.audio import load_audio
    from kws.features import clip_features_int8, int8_to_float

    with open(root / "MANIFEST.tsv", newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle, delimiter="\t")
                if r["file"].startswith("keywords/") and r["file"].endswith(".wav")]
    audio = [load_audio(root / r["file"], sample_rate_hz=16000)[:16000] for r in rows]
    q = np.stack([clip_features_int8(np.clip(np.round(np.pad(a, (0, 16000 - len(a))) * 32768), -32768, 32767)
                                     .astype(np.int16)) for a in audio])
    vectors = np.asarray(encoder.predict(int8_to_float(q), verbose=0))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-9
    words, speakers = np.array([r["label"] for r in rows]), np.array([r["speaker"] for r in rows])
    usable = [w for w in sorted(set(words)) if len(set(speakers[words == w])) > shots]
    rng = np.random.default_rng([seed, 0x9C])
    accuracies = []
    for _ in range(trials):
        means, tests, truth = [], [], []
        for word in usable:
            rows_of = np.flatnonzero(words == word)
            order = list(dict.fromkeys(speakers[rows_of[rng.permutation(len(rows_of))]]))[:shots]
            means.append(np.mean([vectors[rows_of[speakers[rows_of] == s][0]] for s in order], axis=0))
            held = rows_of[~np.isin(speakers[rows_of], order)]
            tests.append(held)
            truth += [len(means) - 1] * len(held)
        predicted = np.argmax(vectors[np.concatenate(tests)] @ np.stack(means).T, axis=1)
        accuracies.append(float(np.mean(predicted == np.array(truth))))
    return {"real_embedding_ncm_acc": round(float(np.mean(accuracies)), 4), "real_embedding_ncm_words": len(usable)}
