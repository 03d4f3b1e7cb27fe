"""Development tools for tests and the local stack; never imported by the deployed functions."""
