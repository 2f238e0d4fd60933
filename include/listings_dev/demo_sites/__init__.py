"""Local stand-ins for every kind of source site, for the demo and the tests (see `server`)."""

from listings_dev.demo_sites.server import DemoSites, Faults, Request, Response, Site

__all__ = ["DemoSites", "Faults", "Request", "Response", "Site"]
