# syntax=docker/dockerfile:1
# One image for the three services: `fl5g serve af|nef|ue --host 0.0.0.0 --port <p>`.
#   docker build -t ghcr.io/fl5g/fl5g:0.1.0 .
#   docker run --rm -p 8080:8080 ghcr.io/fl5g/fl5g:0.1.0                  # the AF
#   docker run --rm -p 8081:8081 ghcr.io/fl5g/fl5g:0.1.0 serve nef --host 0.0.0.0
# Both stages use the same Debian release (bookworm), so the venv's compiled wheels match.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- builder: a self-contained venv in /opt/venv --------------------------------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# torch first, CPU-only and pinned exactly (the same pin as pyproject.toml), so that
# `pip install .` finds it satisfied and never pulls a CUDA build from PyPI.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
WORKDIR /src
COPY pyproject.toml README.md ./
COPY flcore ./flcore
COPY af_server ./af_server
COPY nef_mock ./nef_mock
COPY ue_agent ./ue_agent
COPY fl5g ./fl5g
RUN pip install . && pip check

# ---- runtime ---------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
# Fashion-MNIST from Debian (/usr/share/datasets/fashion-mnist, flcore.data looks there): the
# pods have no internet egress to download it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends dataset-fashion-mnist \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 fl5g \
    && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
       --shell /usr/sbin/nologin fl5g \
    && mkdir -p /var/lib/fl5g/af \
    && chown -R 10001:10001 /var/lib/fl5g
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib \
    TORCH_HOME=/tmp/torch \
    AF_STATE_DIR=/var/lib/fl5g/af
WORKDIR /var/lib/fl5g
USER 10001:10001
# af, nef, ue (docs/interfaces.md); /livez and /readyz are probed by Kubernetes, no HEALTHCHECK.
EXPOSE 8080 8081 8082
ENTRYPOINT ["fl5g"]
CMD ["serve", "af", "--host", "0.0.0.0"]
