"""``interleaf view``: a local, read-only web app that shows reasoning snapshots (agent sessions, eval
runs, recorded gateway traffic) as think -> act -> observe timelines. See docs/view.md."""
