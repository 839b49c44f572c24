"""The micro-frontend as data: one frozen `FrontendConfig` owns every parameter of the feature definition.

Training (`kws.features` runs TensorFlow's `audio_microfrontend` op with these values), the model folders
(`config.json`, `streaming.json`), and the firmware (the generated `model_settings.h` carries every field,
so the C front end is configured by the header, never by copies) all read this one object.

The feature definition:

    16 kHz int16 audio -> audio_microfrontend(window, stride, channels, band edges, noise reduction,
    PCAN, log scale) -> uint16 v per channel and frame
    -> int8 q = clip(((v * int8_multiplier) + int8_offset) // int8_divisor + int8_zero_point, -128, 127)

With the defaults (multiplier 256, offset 333, divisor 666, zero point -128) this reproduces TFLM's own
golden vectors (`current_pipeline`). Models take q dequantized with `int8_scale` = divisor / (multiplier *
25.6) and `int8_zero_point`: v * 10 / 256 (TensorFlow's micro_speech training scale) on the int8 grid.

It lives in `export` (below `kws` and `asr`, above `corpus`) because both the trainers and the C
generator need it and `export` may not import `kws`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FrontendConfig", "FRONTEND"]


@dataclass(frozen=True, kw_only=True)
class FrontendConfig:
    # ---- framing
    sample_rate_hz: int = 16000
    window_ms: int = 30
    stride_ms: int = 20
    clip_ms: int = 1000  # one model window: frames = frames_for(clip samples)
    # ---- filterbank
    channels: int = 40
    lower_band_limit_hz: float = 125.0
    upper_band_limit_hz: float = 7500.0
    # ---- noise reduction (per-channel noise estimate, subtracted)
    smoothing_bits: int = 10
    even_smoothing: float = 0.025
    odd_smoothing: float = 0.06
    min_signal_remaining: float = 0.05
    # ---- PCAN auto gain control
    pcan: bool = True
    pcan_strength: float = 0.95
    pcan_offset: float = 80.0
    pcan_gain_bits: int = 21
    # ---- log scale
    log_scale: bool = True
    log_scale_shift: int = 6
    # ---- uint16 -> int8 model input
    int8_multiplier: int = 256
    int8_offset: int = 333
    int8_divisor: int = 666
    int8_zero_point: int = -128

    def __post_init__(self) -> None:
        if self.sample_rate_hz <= 0 or self.window_ms <= 0 or self.stride_ms <= 0 or self.channels <= 0:
            raise ValueError("sample_rate_hz, window_ms, stride_ms and channels must be positive")
        if self.sample_rate_hz * self.stride_ms % 1000 or self.sample_rate_hz * self.window_ms % 1000:
            raise ValueError("window_ms and stride_ms must be whole numbers of samples")
        if not 0 < self.lower_band_limit_hz < self.upper_band_limit_hz <= self.sample_rate_hz / 2:
            raise ValueError("need 0 < lower_band_limit_hz < upper_band_limit_hz <= sample_rate_hz / 2")
        if self.int8_divisor <= 0 or self.int8_multiplier <= 0:
            raise ValueError("int8_divisor and int8_multiplier must be positive")

    # ---- derived sizes (never literals elsewhere)
    @property
    def window_samples(self) -> int:
        return self.sample_rate_hz * self.window_ms // 1000

    @property
    def stride_samples(self) -> int:
        return self.sample_rate_hz * self.stride_ms // 1000

    @property
    def clip_samples(self) -> int:
        return self.sample_rate_hz * self.clip_ms // 1000

    def frames_for(self, num_samples: int) -> int:
        if num_samples < self.window_samples:
            return 0
        return (num_samples - self.window_samples) // self.stride_samples + 1

    @property
    def frames(self) -> int:
        """Frames in one model window (49 for 1 s at 30/20 ms)."""
        return self.frames_for(self.clip_samples)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.frames, self.channels)

    # ---- the int8 mapping
    @property
    def int8_scale(self) -> float:
        """Float value of one int8 step of the model input: (10 / 256) * (divisor / multiplier)."""
        return self.int8_divisor / (self.int8_multiplier * 25.6)

    def uint16_to_int8(self, values: np.ndarray) -> np.ndarray:
        v = np.asarray(values, dtype=np.int64)
        q = (v * self.int8_multiplier + self.int8_offset) // self.int8_divisor + self.int8_zero_point
        return np.clip(q, -128, 127).astype(np.int8)

    def int8_to_float(self, q: np.ndarray) -> np.ndarray:
        centred = np.asarray(q, dtype=np.float32) - np.float32(self.int8_zero_point)
        return (centred * np.float32(self.int8_scale)).astype(np.float32)

    def float_to_int8(self, x: np.ndarray) -> np.ndarray:
        """Inverse of int8_to_float for values on the grid (round to nearest, saturate)."""
        q = np.round(np.asarray(x, np.float64) / self.int8_scale) + self.int8_zero_point
        return np.clip(q, -128, 127).astype(np.int8)

    def op_kwargs(self) -> dict[str, object]:
        """Keyword arguments of TensorFlow's `audio_microfrontend` op for this config (out_type aside)."""
        return dict(sample_rate=self.sample_rate_hz, window_size=self.window_ms, window_step=self.stride_ms,
                    num_channels=self.channels, upper_band_limit=self.upper_band_limit_hz,
                    lower_band_limit=self.lower_band_limit_hz, smoothing_bits=self.smoothing_bits,
                    even_smoothing=self.even_smoothing, odd_smoothing=self.odd_smoothing,
                    min_signal_remaining=self.min_signal_remaining, enable_pcan=self.pcan,
                    pcan_strength=self.pcan_strength, pcan_offset=self.pcan_offset, gain_bits=self.pcan_gain_bits,
                    enable_log=self.log_scale, scale_shift=self.log_scale_shift)


FRONTEND = FrontendConfig()  # the project's default feature definition
