"""Scrapy project of the listings pipeline: one generic, config-driven spider for `website` sources."""
