"""Spiders of the listings pipeline (only `generic`: sites differ by their config, not by code)."""
