"""A trained aligner on disk and in memory: lexicon, HMM topology, frame scorer, score calibration.

Model folder:
    model.npz            MLP weights, log class priors, transition log-probs (and the GMM, for reference)
    model.json           language, units, dictionary, topology, calibration, training summary
    aligner_config.json  the AlignerConfig it was trained with

Loading needs numpy only (no TensorFlow). `AcousticModel.scores` turns normalized log-mel frames into
per-class scaled log-likelihoods, log p(class | frames) - log p(class): the hybrid HMM/MLP recipe.
A model trained with `mlp_rounds=0` scores with its GMMs (on MFCC + deltas) instead.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from corpus.align.features import dither, log_mel, mfcc_deltas, normalize, splice
from corpus.align.gmm import DiagGMM
from corpus.align.hmm import Topology
from corpus.align.lexicon import Lexicon
from corpus.align.mlp import MLP
from corpus.align.types import AlignError, AlignerConfig
from corpus.fsutil import atomic_path, atomic_write_text

__all__ = ["AcousticModel", "load_model", "MODEL_FORMAT"]

MODEL_FORMAT = "foundspeech-aligner/1"


@dataclass
class AcousticModel:
    language: str
    config: AlignerConfig
    lexicon: Lexicon
    topology: Topology
    mlp: MLP | None
    log_prior: np.ndarray | None
    gmm: DiagGMM | None
    calibration: dict[str, float] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return self.topology.n_classes

    def features(self, samples: np.ndarray) -> np.ndarray:
        """Normalized log-mel frames [T, 40] of 16 kHz samples (dithered: `features.dither`)."""
        return normalize(log_mel(dither(samples)))

    def scores(self, feats: np.ndarray, *, offsets: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scaled log-likelihoods [T, C], log posteriors [T, C]) for normalized log-mel frames.

        `offsets` ([B+1]) marks utterance boundaries when several are concatenated, so splicing
        never reaches across two utterances.
        """
        if offsets is None:
            offsets = np.array([0, len(feats)])
        if self.mlp is not None:
            parts = [splice(feats[a:b], self.config.splice) for a, b in zip(offsets[:-1], offsets[1:])]
            x = np.concatenate(parts) if parts else np.zeros((0, self.mlp.n_inputs), np.float32)
            logp = self.mlp.log_posteriors(x)
            return (logp - self.log_prior).astype(np.float32), logp
        assert self.gmm is not None
        cep = np.concatenate([mfcc_deltas(feats[a:b]) for a, b in zip(offsets[:-1], offsets[1:])])
        ll = self.gmm.loglik(cep)
        top = ll.max(axis=1, keepdims=True)
        logp = ll - top - np.log(np.exp(ll - top).sum(axis=1, keepdims=True))
        return ll, logp.astype(np.float32)

    def save(self, out_dir: str | os.PathLike[str]) -> Path:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {"loop_lp": self.topology.loop_lp, "exit_lp": self.topology.exit_lp}
        if self.mlp is not None:
            arrays.update(self.mlp.to_arrays())
            arrays["log_prior"] = np.asarray(self.log_prior, np.float32)
        if self.gmm is not None:
            arrays.update(self.gmm.to_arrays())
        with atomic_path(out / "model.npz") as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays)
        meta = {
            "format": MODEL_FORMAT, "language": self.language, "lexicon": self.lexicon.to_json(),
            "topology": {"n_units": self.topology.n_units, "states_per_unit": self.topology.states_per_unit,
                         "silence_states": self.topology.silence_states,
                         "silence_penalty": self.topology.silence_penalty,
                         "switch_penalty": self.topology.switch_penalty},
            "calibration": self.calibration, "summary": self.summary,
        }
        atomic_write_text(out / "aligner_config.json", self.config.to_json())
        atomic_write_text(out / "model.json", json.dumps(meta, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
        return out

    @staticmethod
    def load(model_dir: str | os.PathLike[str]) -> "AcousticModel":
        folder = Path(model_dir)
        meta_path, npz_path = folder / "model.json", folder / "model.npz"
        if not meta_path.is_file() or not npz_path.is_file():
            raise AlignError(f"{folder}: not an aligner model folder (model.json and model.npz expected; "
                             f"train one with `python -m corpus align train`)")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != MODEL_FORMAT:
            raise AlignError(f"{folder}: unknown model format {meta.get('format')!r} (expected {MODEL_FORMAT})")
        config = AlignerConfig.load(folder / "aligner_config.json")
        with np.load(npz_path) as data:
            arrays = {k: data[k] for k in data.files}
        t = meta["topology"]
        topology = Topology(t["n_units"], t["states_per_unit"], t["silence_states"], arrays["loop_lp"],
                            arrays["exit_lp"], t["silence_penalty"], t["switch_penalty"])
        mlp = MLP.from_arrays(arrays) if "mlp_w0" in arrays else None
        gmm = (DiagGMM(arrays["gmm_means"], arrays["gmm_variances"], arrays["gmm_log_weights"])
               if "gmm_means" in arrays else None)
        return AcousticModel(language=meta["language"], config=config, lexicon=Lexicon.from_json(meta["lexicon"]),
                             topology=topology, mlp=mlp, log_prior=arrays.get("log_prior"), gmm=gmm,
                             calibration=meta.get("calibration", {}), summary=meta.get("summary", {}))


@functools.lru_cache(maxsize=4)
def _cached(path: str, mtime_ns: int) -> AcousticModel:
    return AcousticModel.load(path)


def load_model(model_dir: str | os.PathLike[str]) -> AcousticModel:
    """Load once per process (keyed by folder and model file time, so a retrained model is reloaded)."""
    folder = Path(model_dir).resolve()
    try:
        mtime = (folder / "model.npz").stat().st_mtime_ns
    except OSError:
        mtime = -1
    return _cached(str(folder), mtime)
