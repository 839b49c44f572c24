"""Deployment: int8 post-training quantization to TFLite, LiteRT parity checks, C arrays from templates."""
