"""Use cases: what the functions do, independent of HTTP and of Lambda event shapes."""
