"""Tests of af_server."""
