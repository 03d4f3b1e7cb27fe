"""Routers, one module a function: ``public`` (auth + health), ``users``, ``images``, ``admin``."""
