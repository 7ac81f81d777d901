# The image every PcapTotal service starts from: Python, the pinned dependencies and the code.
# Build from the repository root:  docker build -f deploy/docker/base.Dockerfile -t pcaptotal/base .
FROM python:3.11-slim-bookworm
WORKDIR /app
COPY pyproject.toml constraints.txt ./
COPY shared ./shared
COPY services ./services
RUN pip install --no-cache-dir -c constraints.txt . \
 && useradd --system --uid 10001 pcaptotal && mkdir -p /data && chown pcaptotal /data
USER 10001
ENV PCAPTOTAL_DATA_DIR=/data PCAPTOTAL_HTTP_HOST=0.0.0.0 PYTHONUNBUFFERED=1
EXPOSE 8080
