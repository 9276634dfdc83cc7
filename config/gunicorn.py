"""Gunicorn settings for `make run` (and anyone serving with `-c config/gunicorn.py`)."""


def child_exit(server, worker):
    # With PROMETHEUS_MULTIPROC_DIR, a worker's live gauges must be dropped when it exits.
    import os

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    # The API refuses query parameters its schema does not list (config.middleware); the table
    # comes from the generated schema (~0.5 s). Build it here, before the worker's first request,
    # rather than on it (and again after every --max-requests recycle).
    try:
        from config.openapi import documented_query_parameters

        documented_query_parameters("api/markets/", "GET")
    except Exception:  # the first request would build it anyway; never stop a worker for this
        worker.log.exception("could not prepare the API's query-parameter table")


# For threaded workers (--worker-class gthread): keep an idle connection longer than nginx keeps
# its upstream connections (60 s), so that nginx, not gunicorn, closes it and never sends a
# request on a connection gunicorn is closing. Sync workers (the default) ignore it.
keepalive = 75
