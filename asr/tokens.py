"""Output units of the CTC head: characters (default, any language) or SentencePiece BPE.

Id 0 is the CTC blank in both. The tokenizer is saved in the model folder (`tokens.json`, and for BPE
`bpe.model`), so a model folder decodes by itself. Text is LibriSpeech-normalized (upper case,
apostrophes kept) before it is tokenized, so training text and scoring agree.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from corpus.configs import read_json, write_json
from corpus.fsutil import atomic_write_bytes

from asr.wer import normalize_librispeech

__all__ = ["Tokenizer", "CharTokenizer", "BpeTokenizer", "train_tokenizer", "load_tokenizer", "TokenizerError"]

BLANK = "<blank>"


class TokenizerError(ValueError):
    """Text cannot be tokenized or a saved tokenizer cannot be read."""


class Tokenizer:
    kind: str
    vocabulary: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.vocabulary)

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def decode(self, ids: Sequence[int]) -> str:
        raise NotImplementedError

    def save(self, folder: str | os.PathLike[str]) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class CharTokenizer(Tokenizer):
    """Blank, space (written '|'), then the characters of the training text in sorted order.

    A character never seen in training is dropped from the target and counted by the caller's filter:
    `encode(..., strict=True)` raises instead."""

    vocabulary: tuple[str, ...]
    kind: str = "char"

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> "CharTokenizer":
        chars = sorted({ch for text in texts for ch in normalize_librispeech(text) if ch != " "})
        return cls(vocabulary=(BLANK, "|", *chars))

    def encode(self, text: str, *, strict: bool = False) -> list[int]:
        index = {ch: i for i, ch in enumerate(self.vocabulary)}
        ids = []
        for ch in normalize_librispeech(text):
            unit = "|" if ch == " " else ch
            if unit in index:
                ids.append(index[unit])
            elif strict:
                raise TokenizerError(f"character {ch!r} is not in the vocabulary")
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        text = "".join(self.vocabulary[i] for i in ids if 0 < i < len(self.vocabulary))
        return " ".join(text.replace("|", " ").split())

    def save(self, folder: str | os.PathLike[str]) -> None:
        write_json(Path(folder) / "tokens.json", {"kind": self.kind, "vocabulary": list(self.vocabulary)})


class BpeTokenizer(Tokenizer):
    """SentencePiece BPE trained on the training text; ids shifted by one so that 0 stays the blank."""

    kind = "bpe"

    def __init__(self, model_bytes: bytes) -> None:
        import sentencepiece as spm

        self.model_bytes = model_bytes
        self._sp = spm.SentencePieceProcessor(model_proto=model_bytes)
        self.vocabulary = (BLANK, *(self._sp.id_to_piece(i) for i in range(self._sp.get_piece_size())))

    @classmethod
    def train(cls, texts: Iterable[str], *, vocab_size: int = 128, seed: int = 0) -> "BpeTokenizer":
        # BPE merges are deterministic given the text (one thread); `seed` is kept for a uniform signature.
        import sentencepiece as spm

        lines = [normalize_librispeech(t) for t in texts]
        lines = [line for line in lines if line]
        if not lines:
            raise TokenizerError("no training text for the BPE model")
        model = io.BytesIO()
        spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=model, vocab_size=vocab_size,
                                       model_type="bpe", character_coverage=1.0, unk_id=0, bos_id=-1, eos_id=-1,
                                       hard_vocab_limit=False, num_threads=1,
                                       minloglevel=2)
        return cls(model.getvalue())

    def encode(self, text: str, *, strict: bool = False) -> list[int]:
        ids = self._sp.encode(normalize_librispeech(text))
        if strict and self._sp.unk_id() in ids:
            raise TokenizerError(f"text {text[:40]!r} has pieces outside the BPE vocabulary")
        return [i + 1 for i in ids]

    def decode(self, ids: Sequence[int]) -> str:
        return " ".join(self._sp.decode([i - 1 for i in ids if 0 < i < len(self.vocabulary)]).split())

    def save(self, folder: str | os.PathLike[str]) -> None:
        atomic_write_bytes(Path(folder) / "bpe.model", self.model_bytes)
        write_json(Path(folder) / "tokens.json", {"kind": self.kind, "vocabulary": list(self.vocabulary)})


def train_tokenizer(kind: str, texts: Sequence[str], *, vocab_size: int = 128, seed: int = 0) -> Tokenizer:
    if kind == "char":
        return CharTokenizer.from_texts(texts)
    if kind == "bpe":
        return BpeTokenizer.train(texts, vocab_size=vocab_size, seed=seed)
    raise TokenizerError(f"unknown tokenizer {kind!r}; choose char or bpe")


def load_tokenizer(folder: str | os.PathLike[str]) -> Tokenizer:
    path = Path(folder) / "tokens.json"
    try:
        data = read_json(path)
    except (OSError, ValueError) as error:
        raise TokenizerError(f"{path}: cannot read the tokenizer: {error}") from None
    if data.get("kind") == "char":
        return CharTokenizer(vocabulary=tuple(data["vocabulary"]))
    if data.get("kind") == "bpe":
        return BpeTokenizer((Path(folder) / "bpe.model").read_bytes())
    raise TokenizerError(f"{path}: unknown tokenizer kind {data.get('kind')!r}")
