"""Matching: resolve source records to canonical listings (bridge hits now; scored candidates later)."""
