"""Tests of flcore."""
