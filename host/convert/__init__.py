"""Conversion of a Keras/TensorFlow model to TFLite in every quantization mode."""
