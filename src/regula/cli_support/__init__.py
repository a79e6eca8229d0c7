"""CLI plumbing the domains' commands share (context, worker processes, start-up checks).

Apart from ``regula.cli`` (the entry, a composition root) so a domain's ``cli`` module never imports the
entry that imports it (decision 0011).
"""
