"""Host controller: converts models to TFLite and benchmarks them on Android devices."""

__version__ = "0.1.0"
TOOL_NAME = "quantbench"
