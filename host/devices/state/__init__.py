"""The phone's state around a measurement: thermal and clock conditions, the fingerprint of what was measured."""
