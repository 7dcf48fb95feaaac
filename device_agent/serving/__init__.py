"""The agent's gRPC service and how it runs each job: the server, the health check, the job that watches a worker,
forking, and what is probed and preloaded once."""
