"""Settings for the web benchmark (bench/bench_web.sh): the project's own, plus the reference
route of bench/urls.py. Production URLs never have it."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
# The public page's throttle is off for the run: wrk's 32 clients come from one address.
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"public_verify": None}}  # noqa: F405
