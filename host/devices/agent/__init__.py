"""The connection to a running agent: the forwarded channel, the gRPC client, the session that owns both."""
