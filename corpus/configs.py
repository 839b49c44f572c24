"""The project's one neutral helper module: config <-> JSON, atomic JSON and list files, stable content
hashes, seeding and TensorFlow quieting. It sits in `corpus` (the bottom layer) so that corpus, export,
kws and asr all use it without importing each other.

Every artifact directory holds its configuration as JSON beside it. Configs are frozen keyword-only
dataclasses; `to_jsonable` turns one into plain JSON (tuples become lists) and `from_jsonable` reads it
back into the dataclass (lists become tuples again, nested config dataclasses are rebuilt), so
`from_jsonable(C, to_jsonable(c)) == c`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import types
import typing
from pathlib import Path
from typing import Any, Iterable, TypeVar

from corpus.fsutil import atomic_write_text

__all__ = [
    "to_jsonable", "from_jsonable", "write_json", "read_json", "write_lines", "read_lines",
    "stable_hash", "content_hash", "json_text", "set_seed", "determinism_note", "quiet_tensorflow",
]

T = TypeVar("T")


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def _convert(kind: Any, value: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        if value is None:
            return None
        return _convert(options[0], value) if len(options) == 1 else value
    if dataclasses.is_dataclass(kind) and isinstance(value, dict):
        return from_jsonable(kind, value)
    if origin is tuple and isinstance(value, list):
        args = typing.get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v) for v in value)
        if args:
            return tuple(_convert(a, v) for a, v in zip(args, value))
        return tuple(value)
    if kind is tuple and isinstance(value, list):
        return tuple(value)
    if kind is float and isinstance(value, int):
        return float(value)
    return value


def from_jsonable(cls: type[T], data: dict) -> T:
    """Rebuild a config dataclass from `to_jsonable` output; unknown keys are an error (a stale file)."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {sorted(unknown)}")
    return cls(**{name: _convert(hints[name], value) for name, value in data.items()})


def json_text(data: Any) -> str:
    """The one JSON form of configs and reports: sorted keys, one-space indent, UTF-8 kept, final newline."""
    return json.dumps(to_jsonable(data), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    path = Path(path)
    atomic_write_text(path, json_text(data))
    return path


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_lines(path: str | os.PathLike[str], lines: Iterable[str]) -> Path:
    path = Path(path)
    atomic_write_text(path, "".join(f"{line}\n" for line in lines))
    return path


def read_lines(path: str | os.PathLike[str]) -> list[str]:
    return [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line]


def stable_hash(*parts: Any, length: int = 12) -> str:
    """Hex digest of JSON-able parts; the same inputs give the same name on every machine."""
    text = json.dumps(to_jsonable(list(parts)), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def content_hash(data: Any) -> str:
    """Full SHA-256 of JSON data with sorted keys (non-JSON leaves by str()): the identity of a stage's
    inputs or of a trained model. Dataclasses hash as their fields."""
    text = json.dumps(to_jsonable(data), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_DETERMINISM: dict[str, Any] = {}


def set_seed(seed: int) -> dict[str, Any]:
    """Seed Python, NumPy and TensorFlow (keras.utils.set_random_seed) and ask TF for deterministic kernels.

    `tf.config.experimental.enable_op_determinism()` works on this TensorFlow (CPU): with it, training
    the same config on the same data twice gives identical weights in one environment (checked by a
    test). Other CPUs or thread counts may still pick other oneDNN kernels, so bit-identity across
    machines is not promised. Returns what was done, for reports.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if "op_determinism" not in _DETERMINISM:
        try:
            tf.config.experimental.enable_op_determinism()
            _DETERMINISM["op_determinism"] = True
        except Exception as error:  # pragma: no cover - depends on the TF build
            _DETERMINISM["op_determinism"] = f"unavailable: {error}"
    return {"seed": seed, **_DETERMINISM}


def determinism_note() -> str:
    if _DETERMINISM.get("op_determinism") is True:
        return ("seeded (keras.utils.set_random_seed) with tf.config.experimental.enable_op_determinism(): "
                "reruns on the same machine and TensorFlow build give identical weights; other CPUs may "
                "choose other oneDNN kernels and differ in the last bits")
    return ("seeded (keras.utils.set_random_seed); TF op determinism is not enabled, so float training on CPU "
            "is reproducible only up to TensorFlow's kernel nondeterminism")


def quiet_tensorflow() -> None:
    """Import TensorFlow and Keras once with their start-up log lines (absl pre-init notes, oneDNN banners)
    kept off the terminal; for command-line entry points. TF's C++ logs are limited to fatal ones unless
    TF_CPP_MIN_LOG_LEVEL is already set. Python errors are unaffected."""
    import sys

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
