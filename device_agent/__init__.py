"""The device agent: a gRPC server that measures TFLite models on the device it runs on.

It depends only on numpy, grpcio, protobuf and a TFLite runtime, so it can run on a phone.
"""

__version__ = "0.1.0"
