"""Why quantization cost accuracy and which build should ship.

``debug`` measures each layer's quantization error, per tensor and per channel; ``tune``
searches, on the device and backend, for the fewest float layers that meet an accuracy target;
``pareto`` picks the build to ship from a run. The selective builds themselves are made by
``host.convert.selective`` over the op listing of ``host.convert.graph``.
"""
