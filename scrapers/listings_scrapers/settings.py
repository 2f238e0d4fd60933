"""Polite defaults for crawling a DMO's website. The spider overrides the per-site knobs (delay, timeout,
retries, headers) from its crawl spec, so these are the values of a crawl run by hand."""

from listings.sources.http import USER_AGENT

BOT_NAME = "listings_scrapers"
SPIDER_MODULES = ["listings_scrapers.spiders"]
NEWSPIDER_MODULE = "listings_scrapers.spiders"

USER_AGENT = USER_AGENT
ROBOTSTXT_OBEY = True

# One request at a time: a crawl is one site, pages come back in a stable order, and a Retry-After wait
# (PoliteRetryMiddleware) holds the whole crawl rather than only the request that was told to wait.
CONCURRENT_REQUESTS = 1
CONCURRENT_REQUESTS_PER_DOMAIN = 1
DOWNLOAD_DELAY = 1.0
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_TIMEOUT = 30
DNS_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 32 * 1024 * 1024  # a directory page is never this big: stop on a runaway download
DOWNLOAD_WARNSIZE = 8 * 1024 * 1024

RETRY_ENABLED = True
RETRY_TIMES = 4
RETRY_HTTP_CODES = [429, 500, 502, 503, 504, 522, 524, 408]
RETRY_PRIORITY_ADJUST = 1  # a retried page goes next (after its wait), before the queued ones
RETRY_BACKOFF_SECONDS = 1.0  # PoliteRetryMiddleware: first wait, doubled each retry (with jitter)
RETRY_MAX_BACKOFF_SECONDS = 60.0  # cap on a wait, Retry-After included
DOWNLOADER_MIDDLEWARES = {
    "listings_scrapers.middlewares.PrivateAddressMiddleware": 50,  # before robots.txt (100) is fetched
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "listings_scrapers.middlewares.PoliteRetryMiddleware": 550,
}

# First in, first out: list page, its detail pages in document order, then the next list page.
SCHEDULER_MEMORY_QUEUE = "scrapy.squeues.FifoMemoryQueue"
SCHEDULER_DISK_QUEUE = "scrapy.squeues.PickleFifoDiskQueue"

# No listening ports in a worker: neither the telnet console nor the remote-control HTTP server.
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
LOG_LEVEL = "INFO"
FEED_EXPORT_ENCODING = "utf-8"
