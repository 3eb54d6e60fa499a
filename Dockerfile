# pvsflow as a BIDS App image (docs/usage.md, "In a container"):
#   docker run --rm --user "$(id -u):$(id -g)" -v /data/bids:/bids:ro -v /data/out:/out pvsflow /bids /out participant
# The CPU build of torch by default; for a CUDA build, name PyTorch's index for the CUDA version
# (pytorch.org lists them), e.g.
#   docker build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu130 -t pvsflow:cuda .
FROM debian:bookworm-slim

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# One virtual environment for pvsflow and everything it runs; first on the PATH, so Snakemake's
# jobs find it too. HOME (for caches) is /tmp and USER names a user for Snakemake's log, as a user
# ID from `docker run --user` has neither: the container runs as any user. Apptainer sets both to
# the caller's own.
ENV VIRTUAL_ENV=/opt/pvsflow \
    PATH=/opt/pvsflow/bin:$PATH \
    HOME=/tmp \
    USER=pvsflow \
    PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/pvsflow \
    && python -m pip install --no-cache-dir "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX_URL}"

COPY . /tmp/pvsflow-source
RUN python -m pip install --no-cache-dir "/tmp/pvsflow-source[slurm]" && rm -rf /tmp/pvsflow-source

ENTRYPOINT ["pvsflow"]
CMD ["--help"]
