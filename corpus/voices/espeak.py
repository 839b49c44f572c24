"""The espeak-ng family: `corpus.synth` (exact word times, every espeak language plus lg/rw)."""

from __future__ import annotations

from corpus.synth import SpeakerBank, SpeakerProfile, SynthError, UnknownLanguage, espeak_voice_for, synthesize
from corpus.voices import Rendered, Voice, VoiceError

__all__ = ["EspeakBackend"]


class EspeakBackend:
    family = "espeak"

    def serves(self, language: str) -> bool:
        try:
            espeak_voice_for(language)
        except UnknownLanguage:
            return False
        return True

    def unavailable(self) -> str | None:
        return None  # the espeakng-loader wheel is a main dependency

    def voices(self, language: str, count: int, *, seed: int) -> list[Voice]:
        return [Voice(family=self.family, speaker_id=f"espeak-{p.speaker_id}", base=p.variant, gender=p.gender,
                      rate=p.rate_wpm / 175.0, pitch=float(p.pitch),
                      settings=(("range", float(p.pitch_range)), ("volume", float(p.volume))))
                for p in SpeakerBank(count, seed=seed, prefix="tts").speakers]

    def speak(self, text: str, *, language: str, voice: Voice) -> Rendered:
        settings = dict(voice.settings)
        profile = SpeakerProfile(speaker_id=voice.speaker_id, variant=voice.base, gender=voice.gender,
                                 rate_wpm=int(round(voice.rate * 175)), pitch=int(voice.pitch),
                                 pitch_range=int(settings.get("range", 50)), volume=int(settings.get("volume", 100)))
        try:
            result = synthesize(text, language=language, speaker=profile)
        except SynthError as error:
            raise VoiceError(f"espeak-ng ({voice.speaker_id}): {error}") from None
        times = [None] * len(text.split())
        for word in result.words:
            times[word.index] = (word.start_s, word.end_s)
        return Rendered(result.samples, result.sample_rate_hz,
                        tuple(times) if all(t is not None for t in times) else None)
