"""Adapters: the real implementations of the ports, and in-memory fakes for unit tests."""
