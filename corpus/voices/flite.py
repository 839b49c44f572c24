"""The Flite family: CMU Flite 2.2 (Debian `flite`), run as a subprocess per utterance.

English only. Voices: kal16 (diphone; its f0 mean is settable), awb, rms (male) and slt (female),
cluster-unit voices. Speakers differ by voice, speaking rate (`duration_stretch`) and, for kal16, pitch.
Flite is deterministic: the same text and settings give the same samples.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from corpus.audio import AudioError, load_audio
from corpus.voices import Rendered, Voice, VoiceError

__all__ = ["FliteBackend", "FLITE_VOICES"]

FLITE_VOICES = (("kal16", "male"), ("awb", "male"), ("rms", "male"), ("slt", "female"))
_RATE_RANGE = (0.8, 1.25)


class FliteBackend:
    family = "flite"

    def serves(self, language: str) -> bool:
        return language == "en" or language.startswith("en-")

    def unavailable(self) -> str | None:
        if shutil.which("flite") is None:
            return "the flite program is not installed (Debian: apt-get install flite; make does it via " \
                   "tools/ensure_flite.sh)"
        return None

    def voices(self, language: str, count: int, *, seed: int) -> list[Voice]:
        out = []
        for index in range(count):
            rng = np.random.default_rng([seed, index, 0xF117E])
            base, gender = FLITE_VOICES[index % len(FLITE_VOICES)]
            pitch = float(rng.integers(85, 140)) if base == "kal16" else 0.0
            out.append(Voice(family=self.family, speaker_id=f"flite-{base}-{index:03d}", base=base, gender=gender,
                             rate=round(float(rng.uniform(*_RATE_RANGE)), 3), pitch=pitch))
        return out

    def speak(self, text: str, *, language: str, voice: Voice) -> Rendered:
        if not text.strip():
            raise VoiceError("flite: nothing to say (empty text)")
        if self.unavailable():
            raise VoiceError(f"flite: {self.unavailable()}")
        with tempfile.TemporaryDirectory(prefix="flite-") as folder:
            out = Path(folder) / "out.wav"
            command = ["flite", "-voice", voice.base, "--setf", f"duration_stretch={1.0 / voice.rate:.4f}"]
            if voice.pitch > 0:
                command += ["--setf", f"int_f0_target_mean={voice.pitch:.1f}"]
            command += ["-t", text, "-o", str(out)]
            done = subprocess.run(command, capture_output=True, timeout=120)
            if done.returncode != 0 or not out.exists():
                raise VoiceError(f"flite ({voice.speaker_id}) failed on {text[:60]!r}: "
                                 f"{done.stderr.decode(errors='replace').strip()[-300:]}")
            try:
                samples = load_audio(out, sample_rate_hz=16000)
            except AudioError as error:
                raise VoiceError(f"flite ({voice.speaker_id}) wrote unreadable audio: {error}") from None
        if samples.size == 0 or not np.any(samples):
            raise VoiceError(f"flite ({voice.speaker_id}) produced no audio for {text[:60]!r}")
        return Rendered(samples.astype(np.float32), 16000, None)
