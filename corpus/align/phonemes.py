"""espeak-ng's own phoneme strings for transcript words: what the phoneme lexicon (`corpus.align.units`) spells.

The synthetic head start is trained on espeak-ng speech, so the phonemes that speech really holds are the
ones espeak's `espeak_TextToPhonemes` returns for the same text with the same voice. This module calls it
in-process through ctypes (the `espeakng-loader` wheel, as `corpus.synth` does; phonemizing needs no
audio, so no synthesis server): microseconds a word, so results are only cached in memory, per voice.

- `phonemize_words(words, language)`: each word alone (what an unseen word at alignment time gets);
- `phonemize_transcript(words, language)`: the words read as one sentence, per word, so function words
  get the reduced forms a reader (and espeak) uses in running speech ("a" -> a#, not eI); None when espeak
  joins or splits words ("of the" -> one phoneme word), which the caller answers with `phonemize_words`.

Phoneme names are espeak's ASCII mnemonics (`t`, `aI`, `3:`, `n^`), stress and syllable marks removed, pauses
(`_`, `_:`, `_|`) and language-switch marks (`(fr)`) dropped. A word espeak gives no phoneme for comes
back as an empty tuple: the lexicon spells it by letters instead.
"""

from __future__ import annotations

import ctypes
import os
import re
import threading
from typing import Iterable, Sequence

__all__ = ["PhonemizerError", "espeak_voice", "phonemize_words", "phonemize_transcript", "clean_phoneme"]

_SEPARATOR = "\u00b7"  # between phoneme names in espeak's output (bits 8-23 of phonememode)
_CHARS_UTF8 = 1
_AUDIO_OUTPUT_SYNCHRONOUS = 2  # no audio thread: nothing to lose when a pool forks this process
_SWITCH = re.compile(r"\([a-z-]+\)")
_MARKS = str.maketrans("", "", "'\",%=")  # primary/secondary stress, unstressed, syllabic marks

_lock = threading.Lock()
_state: dict[str, object] = {}  # "lib", "voice" (current), "pid"
_cache: dict[tuple[str, str], tuple[str, ...]] = {}


class PhonemizerError(RuntimeError):
    """espeak-ng cannot phonemize for this language (no voice, library missing)."""


def espeak_voice(language: str) -> str:
    """The espeak-ng voice that reads `language` (`corpus.synth.espeak_voice_for`); raises PhonemizerError."""
    from corpus.synth import SynthError, espeak_voice_for

    try:
        return espeak_voice_for(language)
    except SynthError as error:
        raise PhonemizerError(str(error)) from None


def _library() -> ctypes.CDLL:
    """The initialized espeak-ng library of this process (initialized again after a fork, for safety)."""
    if _state.get("pid") == os.getpid():
        return _state["lib"]  # type: ignore[return-value]
    import espeakng_loader

    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    if lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0) <= 0:
        raise PhonemizerError("espeak-ng failed to initialise")
    lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
    lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
    _state.update(lib=lib, pid=os.getpid(), voice=None)
    return lib


def _raw(text: str, voice: str) -> list[list[str]]:
    """Phoneme names per spoken word of `text` (all clauses), as espeak returns them (marks still on)."""
    with _lock:
        lib = _library()
        if _state.get("voice") != voice:
            if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise PhonemizerError(f"espeak-ng has no voice {voice!r}")
            _state["voice"] = voice
        data = ctypes.create_string_buffer(text.encode("utf-8"))
        pointer = ctypes.c_void_p(ctypes.addressof(data))
        mode = ord(_SEPARATOR) << 8
        clauses = []
        while pointer.value:
            out = lib.espeak_TextToPhonemes(ctypes.byref(pointer), _CHARS_UTF8, mode)
            if out is None:
                break
            clauses.append(out.decode("utf-8", errors="replace"))
    words = []
    for clause in clauses:
        for token in _SWITCH.sub(" ", clause).split():
            names = [clean_phoneme(p) for p in token.split(_SEPARATOR)]
            names = [n for n in names if n]
            if names:
                words.append(names)
    return words


def clean_phoneme(name: str) -> str:
    """A phoneme name without stress/syllable marks; '' for a pause (`_`, `_:`, `_|`, ...)."""
    name = name.translate(_MARKS).strip()
    return "" if not name or name.startswith("_") or name in ("|", ";", ":") else name


def _speakable(word: str) -> str:
    # espeak reads an apostrophe inside a word as a clause break in some voices ("ng'ombe" -> "en ji ombe"
    # in Swahili); hyphens likewise split. Keep the apostrophe only where the voice pronounces through it.
    return word.replace("-", " ")


def phonemize_words(words: Iterable[str], language: str) -> dict[str, tuple[str, ...]]:
    """word -> its phoneme names when said alone (several spoken words joined); () when espeak gives none."""
    voice = espeak_voice(language)
    out: dict[str, tuple[str, ...]] = {}
    for word in words:
        key = (voice, word)
        if key not in _cache:
            _cache[key] = tuple(p for spoken in _raw(_speakable(word), voice) for p in spoken)
        out[word] = _cache[key]
    return out


def phonemize_transcript(words: Sequence[str], language: str) -> list[tuple[str, ...]] | None:
    """Phoneme names of each word read in the sentence `words`, or None when espeak's spoken words do not
    match the transcript's one to one."""
    if not words or any(not w or " " in _speakable(w) for w in words):
        return None
    spoken = _raw(" ".join(words), espeak_voice(language))
    if len(spoken) != len(words):
        return None
    return [tuple(p) for p in spoken]
