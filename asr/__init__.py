"""Speech recognition (Conformer-CTC, TensorFlow/Keras): data commands today, the recognizer next."""
