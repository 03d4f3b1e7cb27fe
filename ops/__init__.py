"""Operator commands run against a deployed table (``python -m ops.<command>``)."""
