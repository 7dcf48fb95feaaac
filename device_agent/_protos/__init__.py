"""Generated gRPC code; see tools/gen_protos.py."""
