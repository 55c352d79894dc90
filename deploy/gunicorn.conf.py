"""gunicorn settings for the portal: `gunicorn -c deploy/gunicorn.conf.py app:app`."""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Sync workers, one more than the cores: the benchmark (bench/) found more workers, or
# threads, only add CPU contention, and longer waits for the sign-up seat lock, on a host that
# also runs PostgreSQL and the delivery worker. WEB_CONCURRENCY overrides the count.
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() + 1)
worker_class = "sync"
# Import the app once in the master: workers start (and restart after a crash) in
# milliseconds, sharing the imported code.
preload_app = True
timeout = 30
graceful_timeout = 20
# Behind a reverse proxy on the same host: trust its X-Forwarded-Proto.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
