"""Training-time augmentation of pool clips (kws.data): time shift (+-100 ms), background noise at a random
SNR, gain, speed/tempo, neighbouring words, and front-end warm-up context (see `kws.features`: a clip in a
stream is heard with the noise estimate warmed by what came before, so most training clips are preceded by
1 s of other speech or silence under the same noise, and the context's frames are dropped). Vectorized
NumPy on whole batches, seeded per epoch. Silence examples have pool index `kws.data.SILENCE_INDEX`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from corpus.augment import centre_fit, time_stretch
from kws.data import AudioPool, NoiseBank
from kws.features import FRONTEND, FrontendConfig
from kws.voice_augment import microphone_eq, room_reverb, vocal_tract

__all__ = ["AugmentConfig", "Augmenter"]

# ----------------------------------------------------------------------------------------- augmentation

@dataclass(frozen=True, kw_only=True)
class AugmentConfig:
    time_shift_ms: int = 100
    noise_prob: float = 0.8
    snr_db: tuple[float, float] = (5.0, 25.0)
    gain_db: tuple[float, float] = (-6.0, 6.0)
    context_prob: float = 0.7  # share of examples heard after 1 s of context (warm front end)
    context_speech_prob: float = 0.5  # given context: other speech (else silence, both under the noise)
    speed_prob: float = 0.0  # speed perturbation (tempo and pitch together, like another speaker's rate/voice)
    speed_range: tuple[float, float] = (0.88, 1.12)
    tempo_prob: float = 0.0  # speaking-rate change with the pitch kept (WSOLA): slow isolated shots vs fast words
    tempo_range: tuple[float, float] = (0.75, 1.6)  # in sentences; rates drawn log-uniformly (>1: faster)
    free_shift_prob: float = 0.0  # shift anywhere that keeps the spoken part inside the window (streaming)
    free_shift_overhang: float = 0.0  # ... or up to this share of it beyond either edge
    neighbor_prob: float = 0.0  # other words inside the window, before and after the clip's word (running speech)
    neighbor_gap_ms: tuple[int, int] = (40, 250)
    silence_rms_db: tuple[float, float] = (-70.0, -25.0)  # level of noise-only "silence" examples, dBFS RMS
    spec_time_masks: int = 2
    spec_time_mask_frames: int = 5
    spec_freq_masks: int = 2
    spec_freq_mask_channels: int = 4
    # voices and microphones training never heard (kws.voice_augment); all off by default
    vocal_tract_prob: float = 0.0  # pitch + formants by resampling, duration kept
    vocal_tract_range: tuple[float, float] = (0.85, 1.18)  # factor, drawn log-uniformly (> 1: higher voice)
    reverb_prob: float = 0.0
    reverb_rt60_s: tuple[float, float] = (0.15, 0.7)
    reverb_direct_db: tuple[float, float] = (-3.0, 10.0)  # direct-to-reverberant ratio
    eq_prob: float = 0.0  # a random microphone response: tilt, high-pass, low-pass, resonances
    eq_tilt_db_per_octave: tuple[float, float] = (-4.0, 2.0)
    eq_highpass_hz: tuple[float, float] = (40.0, 350.0)
    eq_lowpass_hz: tuple[float, float] = (3400.0, 7500.0)
    eq_lowpass_prob: float = 0.5
    eq_peaks: int = 2
    eq_peak_db: float = 6.0


def _active_power(x: np.ndarray, frame: int = 160, floor_db: float = 30.0) -> np.ndarray:
    """Per row: mean power of 10-ms frames within `floor_db` of the loudest (the speech, not the pauses); the
    batch form of corpus.augment.active_power, vectorized over a whole augmentation batch."""
    usable = x.shape[1] // frame * frame
    power = np.square(x[:, :usable].astype(np.float64)).reshape(len(x), -1, frame).mean(axis=2)
    peak = power.max(axis=1, keepdims=True)
    loud = power >= peak * 10 ** (-floor_db / 10)
    return np.where(peak[:, 0] > 0, (power * loud).sum(axis=1) / np.maximum(loud.sum(axis=1), 1), 0.0)


def _change_speed(clip: np.ndarray, factor: float) -> np.ndarray:
    """Play `clip` `factor` times faster (linear interpolation), keeping its centre and its length."""
    n = len(clip)
    positions = (np.arange(n) - n / 2) * factor + n / 2
    return np.interp(positions, np.arange(n), clip, left=0.0, right=0.0).astype(np.float32)


class Augmenter:
    """Turns pool indices (or SILENCE_INDEX) into augmented int16 audio: rows [context | clip] and, per row,
    the sample where the front end starts (0, or the clip's start for rows heard without context)."""

    def __init__(self, pool: AudioPool, noise: NoiseBank, config: AugmentConfig = AugmentConfig(), *,
                 frontend: FrontendConfig = FRONTEND, context_pool: np.ndarray | None = None) -> None:
        self.pool, self.noise, self.config, self.frontend = pool, noise, config, frontend
        self.clip_samples = frontend.clip_samples
        # context must be whole strides so that clip frames stay on the same grid
        self.context_samples = self.clip_samples // frontend.stride_samples * frontend.stride_samples
        self.context_pool = np.arange(len(pool)) if context_pool is None else np.asarray(context_pool)

    @property
    def length(self) -> int:
        return self.context_samples + self.clip_samples

    def _spans(self) -> np.ndarray:
        """(first, last) sample of the spoken part of every pool clip (10-ms frames within 35 dB of the peak)."""
        if getattr(self, "_span_cache", None) is None:
            frame = self.frontend.sample_rate_hz // 100
            spans = np.zeros((len(self.pool), 2), np.int64)
            for first in range(0, len(self.pool), 512):
                block = self.pool.audio[first:first + 512].astype(np.float32)
                usable = block.shape[1] // frame * frame
                power = np.square(block[:, :usable]).reshape(len(block), -1, frame).mean(axis=2)
                loud = power >= power.max(axis=1, keepdims=True) * 10 ** -3.5
                spans[first:first + len(block), 0] = np.argmax(loud, axis=1) * frame
                spans[first:first + len(block), 1] = (loud.shape[1] - np.argmax(loud[:, ::-1], axis=1)) * frame
            self._span_cache = spans
        return self._span_cache

    def _add_neighbors(self, clips: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> None:
        """Put the end of another clip's word before this row's word and the start of another after it,
        separated by short gaps: the keyword inside running speech, as a stream's window hears it."""
        if len(rows) == 0:
            return
        spans, n, rate = self._spans(), clips.shape[1], self.frontend.sample_rate_hz
        frame = rate // 100
        fade = np.linspace(0.0, 1.0, frame, dtype=np.float32)
        low, high = (g * rate // 1000 for g in self.config.neighbor_gap_ms)
        for row in rows:
            power = np.square(clips[row, : n // frame * frame]).reshape(-1, frame).mean(axis=1)
            if power.max() <= 0:
                continue
            loud = np.flatnonzero(power >= power.max() * 10 ** -3.5)
            first, last = loud[0] * frame, (loud[-1] + 1) * frame
            level = np.sqrt(power[loud].mean())
            for side in (0, 1):
                other = int(self.context_pool[rng.integers(len(self.context_pool))])
                a, c = spans[other]
                word = self.pool.audio[other, a:c].astype(np.float32) / 32768.0
                if len(word) < 2 * frame:
                    continue
                gap = int(rng.integers(low, high + 1))
                room = first - gap if side == 0 else n - (last + gap)
                if room < 4 * frame:
                    continue
                piece = (word[-room:] if side == 0 else word[:room]).copy()
                piece[:frame] *= fade[: len(piece[:frame])]
                piece[-frame:] *= fade[::-1][: len(piece[-frame:])]
                rms = np.sqrt(np.mean(piece ** 2)) + 1e-9
                piece *= np.float32(level / rms * 10 ** (rng.uniform(-6, 3) / 20))
                start = first - gap - len(piece) if side == 0 else last + gap
                clips[row, start:start + len(piece)] += piece

    def audio(self, indices: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        config, n, b = self.config, self.clip_samples, len(indices)
        indices = np.asarray(indices)
        clips = np.zeros((b, n), np.float32)
        real = indices >= 0
        clips[real] = self.pool.audio[indices[real]].astype(np.float32) / 32768.0
        if config.speed_prob > 0:
            for row in np.flatnonzero(real & (rng.random(b) < config.speed_prob)):
                clips[row] = _change_speed(clips[row], float(rng.uniform(*config.speed_range)))
        if config.tempo_prob > 0:
            low, high = np.log(config.tempo_range)
            for row in np.flatnonzero(real & (rng.random(b) < config.tempo_prob)):
                stretched = time_stretch(clips[row], float(np.exp(rng.uniform(low, high))),
                                         sample_rate_hz=self.frontend.sample_rate_hz)
                clips[row] = centre_fit(stretched, n)
        # new random draws only when a step is on, so configs without them keep their exact batches
        rate = self.frontend.sample_rate_hz
        if config.vocal_tract_prob > 0:
            low, high = np.log(config.vocal_tract_range)
            for row in np.flatnonzero(real & (rng.random(b) < config.vocal_tract_prob)):
                clips[row] = vocal_tract(clips[row], float(np.exp(rng.uniform(low, high))), sample_rate_hz=rate)
        if config.reverb_prob > 0:
            rows = np.flatnonzero(real & (rng.random(b) < config.reverb_prob))
            if len(rows):
                clips[rows] = room_reverb(clips[rows], rng, rt60_s=config.reverb_rt60_s,
                                          direct_to_reverb_db=config.reverb_direct_db, sample_rate_hz=rate)
        # time shift with zero fill: +-time_shift_ms, or (free_shift_prob) anywhere the spoken part stays inside
        max_shift = config.time_shift_ms * self.frontend.sample_rate_hz // 1000
        shifts = rng.integers(-max_shift, max_shift + 1, size=b) if max_shift > 0 else np.zeros(b, np.int64)
        free = real & (rng.random(b) < config.free_shift_prob)
        if free.any():
            spans = self._spans()[indices[free]]
            overhang = (config.free_shift_overhang * (spans[:, 1] - spans[:, 0])).astype(np.int64)
            low, high = -spans[:, 0] - overhang, n - spans[:, 1] + overhang
            shifts[free] = np.minimum(low, high) + (rng.random(int(free.sum())) *
                                                   (np.abs(high - low) + 1)).astype(np.int64)
        for row in np.flatnonzero(shifts):  # row slices: no [B, n] index arrays per batch
            shift = int(shifts[row])
            moved = np.zeros(n, np.float32)
            if 0 < shift < n:
                moved[shift:] = clips[row, :n - shift]
            elif -n < shift < 0:
                moved[:n + shift] = clips[row, -shift:]
            clips[row] = moved
        if config.neighbor_prob > 0 and len(self.context_pool):
            self._add_neighbors(clips, np.flatnonzero(real & (rng.random(b) < config.neighbor_prob)), rng)
        # context: other speech or silence before the clip
        context = np.zeros((b, self.context_samples), np.float32)
        with_context = rng.random(b) < config.context_prob
        speech = with_context & (rng.random(b) < config.context_speech_prob) & (len(self.context_pool) > 0)
        if speech.any():
            picks = self.context_pool[rng.integers(0, len(self.context_pool), size=int(speech.sum()))]
            context[speech] = self.pool.audio[picks, -self.context_samples:].astype(np.float32) / 32768.0
        full = np.concatenate([context, clips], axis=1)
        # noise under context and clip; silence rows get noise at an absolute level
        noisy = rng.random(b) < config.noise_prob
        kinds = rng.integers(0, len(self.noise.signals), size=b)
        starts = rng.integers(0, 1 << 30, size=b)
        snr = rng.uniform(*config.snr_db, size=b)
        silence_rms = 10 ** (rng.uniform(*config.silence_rms_db, size=b) / 20)
        clip_power = _active_power(clips)
        for row in np.flatnonzero(noisy | ~real):
            if not noisy[row] and rng.random() < 0.5:
                continue  # some silence examples stay digital silence
            segment = self.noise.segment(int(kinds[row]), int(starts[row]), full.shape[1])
            if real[row] and clip_power[row] > 0:
                rms = np.sqrt(clip_power[row] / 10 ** (snr[row] / 10))
            else:
                rms = silence_rms[row]
            full[row] += segment * np.float32(rms)
        if config.eq_prob > 0:  # the microphone hears speech and room noise alike
            rows = np.flatnonzero(rng.random(b) < config.eq_prob)
            if len(rows):
                full[rows] = microphone_eq(full[rows], rng, tilt_db_per_octave=config.eq_tilt_db_per_octave,
                                           highpass_hz=config.eq_highpass_hz, lowpass_hz=config.eq_lowpass_hz,
                                           lowpass_prob=config.eq_lowpass_prob, peaks=config.eq_peaks,
                                           peak_db=config.eq_peak_db, sample_rate_hz=rate)
        gains = 10 ** (rng.uniform(*config.gain_db, size=b) / 20)
        full *= gains[:, None].astype(np.float32)
        # rows without context start the front end at the clip itself (a cold start; zeros before the clip
        # would not give the same state, the front end's filterbank is not silent on digital silence)
        starts = np.where(with_context, 0, self.context_samples).astype(np.int32)
        return np.clip(np.round(full * np.float32(32768.0)), -32768, 32767).astype(np.int16), starts
