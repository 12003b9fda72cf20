# campus-cctv: one image, every service (`python -m services.<name>`) and the `cctv` CLI.
# Runs as a numeric non-root user on a read-only root filesystem: it writes only to the paths
# in the label below, which Kubernetes mounts as emptyDir volumes (deploy/k8s/base/services).
# tests/deploy/test_image_runtime.py starts the services under exactly these assumptions.
FROM python:3.11.14-slim-bookworm

LABEL org.opencontainers.image.title="campus-cctv" \
      org.opencontainers.image.source="campus-cctv" \
      cctv.writable-paths="/tmp /var/lib/cctv"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp \
    CCTV_HOME=/var/lib/cctv \
    DATA_DIR=/var/lib/cctv

# CJK fonts: the console prints the regulation's paper forms (Annex 2-4) as PDF in Chinese
RUN apt-get update && apt-get install -y --no-install-recommends fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY cctv cctv
COPY services services
COPY demo demo
# bytecode compiled at build time: nothing is written beside the code at run time
RUN pip install . \
    && python -m compileall -q /app /usr/local/lib/python3.11/site-packages \
    && groupadd --gid 10001 cctv \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
       --shell /usr/sbin/nologin cctv \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/cctv

USER 10001:10001
EXPOSE 8080
CMD ["python", "-m", "services.console"]
