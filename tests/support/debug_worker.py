"""``celery`` with every log switch on, for tests that look for secrets in a worker's output.

The root logger and the third-party ones a send goes through are set to DEBUG, and the
debug prints of http.client and smtplib (which go to stdout and stderr, not to logging)
are turned on: whatever they write must reach the output masked. Arguments are Celery's.
"""

from __future__ import annotations

import http.client
import logging
import smtplib
import sys

from celery.bin.celery import main

LOGGERS = (
    "",
    "urllib3",
    "requests",
    "twilio",
    "twilio.http_client",
    "celery",
    "kombu",
    "billiard",
    "redis",
    "tasks",
    "klaxon",
)

if __name__ == "__main__":
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    http.client.HTTPConnection.debuglevel = 1
    smtplib.SMTP.debuglevel = 1
    sys.argv[0] = "celery"
    sys.exit(main())
