"""Tests of the radio model behind the NEF mock."""
