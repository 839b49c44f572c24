"""Stage 5, score: how unlike the other clips of its keyword each clip is (MSWC's outlier score).

As MSWC did: embed every clip (`embed_clip`, per clip on the engine; the embedding is pluggable, see
`corpus.mswc.embedding`), then per keyword (`score_keyword`, per keyword on the engine) run k-means with
k=5 on 50 clips drawn at random (seeded by a hash of the seed and the word, so reproducible anywhere),
and score every clip of the keyword by its Euclidean distance to the nearest centroid. Larger = more
likely a bad clip (wrong transcript, misalignment, noise).

Details that MSWC's description leaves open, and what we chose (measured on synthetic corpora with
planted wrong-transcript and silent clips, see bench/mswc.py):

- k-means++ initialisation and Lloyd iterations in float64 numpy (deterministic for the seed);
- k = min(5, sample // 10): MSWC's ratio of one centroid per 10 sampled clips, kept for keywords with
  fewer than 50 clips (a keyword with 20 clips gets k=2, one with 12 gets k=1: the distance to the
  mean). With k=5 on 8 clips every bad clip gets a centroid of its own and a distance of ~0;
- a centroid whose cluster holds less than half the average cluster size is not used for scoring:
  the bad clips of a keyword resemble each other (noise, fragments) and k-means++ seeds on far-out
  points, so they would otherwise form their own small cluster and score as typical. Outlier AUC on
  the synthetic corpora: ~0.89 without these two rules' help, ~0.92 with.

The stage's manifest is `ClipScore` per clip; the split stage publishes it as `<lang>_scores.csv`
(LINK,WORD,SCORE; `corpus.formats.mswc.write_scores`).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

import numpy as np

from corpus.audio import AudioError, load_audio
from corpus.stages import Context, Outcome, StageOutput

__all__ = ["EmbedTask", "Embedded", "embed_clip", "ScoreTask", "KeywordScores", "ClipScore", "score_keyword", "kmeans",
           "encode_vector", "decode_vector", "CLIPS_PER_CENTROID", "plan_score", "collect_score"]

CLIPS_PER_CENTROID = 10


def encode_vector(vector: np.ndarray) -> str:
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def decode_vector(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float32)


@dataclass(frozen=True, kw_only=True)
class EmbedTask:
    link: str
    path: str
    embedding: str = "builtin"


@dataclass(frozen=True, kw_only=True)
class Embedded(Outcome):
    """A clip's embedding (`encode_vector`), or why there is none (ok=False); `id` is the clip's link."""

    vector: str = ""


def embed_clip(task: EmbedTask) -> Embedded:
    from corpus.mswc.embedding import embedder

    try:
        audio = load_audio(task.path, sample_rate_hz=16000)
        vector = np.asarray(embedder(task.embedding)(audio), dtype=np.float32).reshape(-1)
    except AudioError as error:
        return Embedded(id=task.link, reason="unreadable_clip", detail=error.reason)
    if not np.all(np.isfinite(vector)):
        return Embedded(id=task.link, reason="bad_embedding", detail="NaN or infinite values")
    return Embedded(id=task.link, ok=True, vector=encode_vector(vector))


def _rng(seed: int, word: str) -> np.random.Generator:
    digest = hashlib.sha256(f"kmeans:{seed}:{word}".encode("utf-8")).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _nearest(points: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    distances = np.sqrt(np.maximum(((points[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2), 0.0))
    return distances.argmin(axis=1), distances.min(axis=1)


def kmeans(points: np.ndarray, k: int, rng: np.random.Generator, *, iterations: int = 100) -> np.ndarray:
    """Centroids [k, dim] by k-means++ seeding and Lloyd iterations (float64, deterministic for an rng)."""
    points = np.asarray(points, dtype=np.float64)
    k = max(1, min(k, len(points)))
    centroids = [points[int(rng.integers(len(points)))]]
    for _ in range(1, k):
        _, distance = _nearest(points, np.array(centroids))
        weights = distance ** 2
        total = weights.sum()
        pick = int(rng.integers(len(points))) if total <= 0 else int(rng.choice(len(points), p=weights / total))
        centroids.append(points[pick])
    centroids = np.array(centroids)
    for _ in range(iterations):
        labels, _ = _nearest(points, centroids)
        updated = np.array([points[labels == c].mean(axis=0) if np.any(labels == c) else centroids[c]
                            for c in range(k)])
        if np.allclose(updated, centroids, rtol=0, atol=1e-10):
            break
        centroids = updated
    return centroids


@dataclass(frozen=True, kw_only=True)
class ScoreTask:
    word: str
    links: tuple[str, ...]
    vectors: tuple[str, ...]  # encode_vector of each link's embedding
    k: int = 5
    sample: int = 50
    seed: int = 0


@dataclass(frozen=True, kw_only=True)
class KeywordScores:
    """Per clip of a keyword (in its task's link order): (link, distance to the nearest kept centroid)."""

    word: str
    scores: tuple[tuple[str, float], ...]


@dataclass(frozen=True, kw_only=True)
class ClipScore:
    """The score stage's manifest (key: link)."""

    link: str
    word: str
    score: float


def score_keyword(task: ScoreTask) -> KeywordScores:
    """k-means on a sample of the keyword's clips, then every clip's distance to the nearest centroid."""
    points = np.stack([decode_vector(v) for v in task.vectors]).astype(np.float64)
    rng = _rng(task.seed, task.word)
    size = min(task.sample, len(points))
    chosen = np.sort(rng.choice(len(points), size=size, replace=False))
    k = max(1, min(task.k, size // CLIPS_PER_CENTROID))
    sample = points[chosen]
    centroids = kmeans(sample, k, rng)
    labels, _ = _nearest(sample, centroids)
    members = np.bincount(labels, minlength=len(centroids))
    kept = centroids[members * 2 * k >= size]  # clusters of at least half the average size
    _, distance = _nearest(points, kept if len(kept) else centroids)
    return KeywordScores(word=task.word, scores=tuple((link, round(float(d), 6)) for link, d in zip(task.links, distance)))


# ---------------------------------------------------------------- the stage

def plan_score(ctx: Context) -> list[EmbedTask]:
    if not ctx.config.score:
        return []
    clips_dir = ctx.out_dir / "clips"
    return [EmbedTask(link=c.link, path=str(clips_dir / c.link), embedding=ctx.config.embedding)
            for c in ctx.read("extract", "clips")]


def collect_score(ctx: Context, tasks: list[EmbedTask], results: list[Embedded]) -> StageOutput:
    """Per keyword, k-means over its embedded clips (on the engine, not checkpointed: it is quick)."""
    config = ctx.config
    clips = ctx.read("extract", "clips")
    if not config.score:
        return StageOutput(count_in=len(clips), kept=0, manifests={"scores": []}, report={"skipped": True})
    by_word: dict[str, list[tuple[str, str]]] = {}
    for clip, result in zip(clips, results):
        if result.ok:
            by_word.setdefault(clip.word, []).append((clip.link, result.vector))
    score_tasks = [ScoreTask(word=word, links=tuple(l for l, _ in items), vectors=tuple(v for _, v in items),
                             k=config.kmeans_k, sample=config.kmeans_sample, seed=config.seed)
                   for word, items in sorted(by_word.items())]
    scored = [ClipScore(link=link, word=result.word, score=score)
              for result in ctx.map(score_keyword, score_tasks, desc="k-means", unit="word")
              for link, score in result.scores]
    return StageOutput(count_in=len(clips), kept=len(scored), manifests={"scores": scored},
                       report={"keywords": len(score_tasks), "embedding": config.embedding})
