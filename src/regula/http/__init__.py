"""Request plumbing every domain's routes use (state, client address, input guard, rate limit).

Below the adapters and above no domain but ``access``/``audit`` (decision 0011): the web app and the domains'
routes both import it, so it lives apart from ``regula.web`` (pages and the app factory).
"""
