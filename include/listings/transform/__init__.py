"""Transform: field mapping, cleaning, hashing and in-file merging of source records (pure functions)."""
