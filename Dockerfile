# The cskh-inbox image: one image for every role (`cskh serve --role R`), the migrations
# (`cskh migrate`) and the other commands. deploy/compose/compose.yaml builds and runs it.
#
#   docker build -t cskh-inbox .
#   docker run --rm -p 8080:8080 cskh-inbox              # the embedded default, all roles
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A system user without a shell or a password: the service never runs as root.
RUN groupadd --system --gid 10001 cskh \
    && useradd --system --uid 10001 --gid cskh --home-dir /var/lib/cskh --no-create-home \
        --shell /usr/sbin/nologin cskh

WORKDIR /src
COPY pyproject.toml README.md ./
COPY ingest ./ingest
COPY connectors ./connectors
COPY normalizer ./normalizer
COPY router ./router
COPY desk ./desk
COPY storage ./storage
RUN pip install . \
    && mkdir -p /opt/cskh /var/lib/cskh \
    && cskh model train --no-corrections --out /opt/cskh/cskh-model.joblib \
    && chown cskh:cskh /var/lib/cskh \
    && rm -rf /src

# The classifier is trained once, into the image, so replicas never race to train it;
# relative paths (attachments, the IMAP cursor, the embedded default's cskh.db) land in
# /var/lib/cskh, the volume.
ENV CSKH_MODEL_PATH=/opt/cskh/cskh-model.joblib \
    CSKH_HTTP_HOST=0.0.0.0 \
    CSKH_HTTP_PORT=8080 \
    CSKH_LOG_FORMAT=json
WORKDIR /var/lib/cskh
VOLUME ["/var/lib/cskh"]
USER cskh:cskh
EXPOSE 8080

# Liveness only (/healthz): readiness (/readyz: bus and database reachable) is for the
# orchestrator's routing, and a database outage must not get every container restarted.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CSKH_HTTP_PORT', '8080'), timeout=4)"]

ENTRYPOINT ["cskh"]
CMD ["serve"]
