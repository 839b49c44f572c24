"""Speech recognition: a Conformer-CTC recognizer in Keras 3 (train, decode, WER as sclite counts it, TFLite)."""
