"""Tests of ue_agent."""
