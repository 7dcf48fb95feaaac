"""The agent's folder on the device: the content-addressed store, packed datasets, the start caches, and writes it can
afford to lose."""
