"""``rnncalc inspect``: what a checkpoint, a Keras file or an ONNX export holds."""
