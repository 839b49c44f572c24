"""Synthetic corpora in the exact layouts of the real ones (Common Voice, LibriSpeech, Internet Archive
items, MSWC releases), spoken by espeak-ng, with ground truth the real corpora lack."""

__all__ = ["SynthTreeError"]


class SynthTreeError(ValueError):
    """A synthetic tree cannot be written: no demo text for the language, or the target is taken."""
