# Build every PcapTotal image:  docker buildx bake            (or: docker buildx bake parser)
# Push to your registry:        REGISTRY=registry.example/pcaptotal TAG=0.1.0 docker buildx bake --push
# Rebase on another Python:     PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:... docker buildx bake

variable "REGISTRY" {
  default = "pcaptotal"
}

variable "TAG" {
  default = "dev"
}

# Empty: deploy/Dockerfile's own pinned default.
variable "PYTHON_IMAGE" {
  default = ""
}

group "default" {
  targets = ["ingest", "search-api", "parser", "enricher", "runner"]
}

# One Dockerfile, one target per image (they share its build stage).
target "_common" {
  context    = "."
  dockerfile = "deploy/Dockerfile"
  platforms = ["linux/amd64", "linux/arm64"]
  args      = notequal(PYTHON_IMAGE, "") ? { PYTHON_IMAGE = PYTHON_IMAGE } : {}
  labels = {
    "org.opencontainers.image.source" = "https://github.com/pcaptotal/pcaptotal"
    "org.opencontainers.image.version" = TAG
  }
}

target "ingest" {
  inherits   = ["_common"]
  target     = "ingest"
  tags       = ["${REGISTRY}/ingest:${TAG}"]
}

target "search-api" {
  inherits   = ["_common"]
  target     = "search-api"
  tags       = ["${REGISTRY}/search-api:${TAG}"]
}

target "parser" {
  inherits   = ["_common"]
  target     = "parser"
  tags       = ["${REGISTRY}/parser:${TAG}"]
}

target "enricher" {
  inherits   = ["_common"]
  target     = "enricher"
  tags       = ["${REGISTRY}/enricher:${TAG}"]
}

# The all-in-one runner; also the gateway image (python -m pcaptotal_runner.gateway).
target "runner" {
  inherits   = ["_common"]
  target     = "runner"
  tags       = ["${REGISTRY}/runner:${TAG}"]
}
