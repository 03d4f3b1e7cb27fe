"""Development tools: the local stack, the serialized AWS emulator and the template reader.

Tests and the local stack use them; the deployed functions never do (this package is not in the layer).
"""
