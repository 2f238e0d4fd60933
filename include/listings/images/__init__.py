"""Listing photos: a safe downloader (`fetch`) and the validation, re-encoding and perceptual hashing of
what it downloads (`process`). A pure library: no database, no Airflow; the image step of a DMO run calls
it."""
