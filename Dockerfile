# Klaxon: one image for every process (bridge, notification workers, beat, Flower).
#
#   docker build -t klaxon:local .
#   docker run --rm klaxon:local klaxon check /app/config/alert_rules.yaml
#
# The default command is the Kafka -> rules -> Redis bridge; docker-compose.yml runs the
# workers, beat and Flower from the same image with other commands.
FROM python:3.11-slim

# The package is installed into site-packages, where its defaults cannot find the data
# folders of the source tree: RULES_CONFIG_PATH and KLAXON_SCHEMAS_DIR name them.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    RULES_CONFIG_PATH=/app/config/alert_rules.yaml \
    KLAXON_SCHEMAS_DIR=/app/schemas \
    METRICS_PORT=8003 \
    WORKER_METRICS_PORT=8004

WORKDIR /app

# A fixed uid/gid so that bind mounts (./logs) can be chowned to it on the host.
RUN groupadd --system --gid 10001 klaxon \
    && useradd --system --uid 10001 --gid klaxon --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin klaxon

# Runtime dependencies only (confluent-kafka ships manylinux wheels: no compiler needed).
# A layer of its own, so that code changes do not reinstall them.
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

COPY pyproject.toml README.md ./
# Every package pyproject.toml installs (tests/integration/test_image_tree.py builds this
# tree from these lines and runs Klaxon from it: a package left out fails there).
COPY contract/ ./contract/
COPY klaxon/ ./klaxon/
COPY ingest/ ./ingest/
COPY rules/ ./rules/
COPY alerts/ ./alerts/
COPY tasks/ ./tasks/
COPY alerts/ ./alerts/
COPY history/ ./history/
COPY config/ ./config/
COPY schemas/ ./schemas/

# The project itself, without touching the pinned dependencies installed above.
# /app/logs: the seed's log volume; /var/lib/klaxon: beat's schedule file and other state;
# /tmp/klaxon-metrics: PROMETHEUS_MULTIPROC_DIR for the prefork workers.
RUN pip install --no-cache-dir --no-deps . \
    && rm -rf build ./*.egg-info \
    && mkdir -p /app/logs /var/lib/klaxon /tmp/klaxon-metrics \
    && chown klaxon:klaxon /app/logs /var/lib/klaxon /tmp/klaxon-metrics

USER klaxon

# 8003: bridge metrics, /healthz, /readyz; 8004: worker metrics; 5555: Flower.
EXPOSE 8003 8004 5555

# slim has no curl: ask with Python. /healthz answers while the bridge process is alive;
# other commands (workers, Flower) get their own healthcheck in docker-compose.yml.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${METRICS_PORT:-8003}/healthz', timeout=4)" || exit 1

# SIGTERM (Docker's default stop signal) makes the bridge finish its batch and commit.
STOPSIGNAL SIGTERM
CMD ["klaxon", "bridge"]
