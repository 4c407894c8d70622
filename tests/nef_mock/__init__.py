"""Tests of the NEF mock (its radio model has its own folder)."""
