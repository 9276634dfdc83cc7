"""Gunicorn settings for `make run` (and anyone serving with `-c config/gunicorn.py`)."""


def child_exit(server, worker):
    # With PROMETHEUS_MULTIPROC_DIR, a worker's live gauges must be dropped when it exits.
    import os

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
