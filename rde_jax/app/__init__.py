"""rde-app: a browser app to segment your own videos, served by the machine that holds the model.

    rde-app --checkpoint /tmp/rde_demo [--root /data/videos] [--host 127.0.0.1] [--port 8080]

Modules: `__main__` (flags, the entry point), `server` (HTTP routing and the JSON API),
`session` (one opened video: annotations, results on disk, the background propagation),
`video_input` (uploads, zips of frames and server paths, with their limits), `static/` (the one
page: HTML, vanilla JS, CSS; no build step).
"""
