"""Readers: config files and Keras model JSON (errors name file, line and key), and weight files
(state dicts, safetensors, Keras archives and .h5, ONNX), read for names, shapes and dtypes only."""
