"""Tests of fl5g."""
