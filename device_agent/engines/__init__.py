"""The runtimes a cell runs on: the TFLite interpreter with its backends and delegates, and LiteRT's CompiledModel C
API driven with ctypes (GPU and NPU accelerators)."""
