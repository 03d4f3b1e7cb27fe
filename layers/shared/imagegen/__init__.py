"""Shared package of the image generator backend: domain, use cases, adapters.

Imported the same way by the Lambda functions (from the layer), the tests and the local stack.
"""
