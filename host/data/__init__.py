"""Image datasets, preprocessing presets and the bundled demo set."""
