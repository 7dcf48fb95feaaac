"""Energy per inference: the phone's own meters read over the shell user's rights (``sources``),
sampled on the device's boot clock (``sampler``), the battery unplugged for a fuel gauge and
always reset (``battery``), and the idle-baseline method with its interval (``method``)."""
