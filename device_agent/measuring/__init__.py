"""One cell in its worker: timing, evaluation, the task's evidence, memory, the per-op profile, preprocessing, and the
device's facts."""
