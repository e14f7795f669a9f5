# syntax=docker/dockerfile:1
# Multi-stage build: a static Go binary on distroless, running as a non-root user.
#   docker build --build-arg VERSION=$(git describe --always) -t authgraph .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /authgraph ./server

# distroless/static: no shell, no package manager, CA certificates and tzdata only; its
# nonroot user is 65532. The binary is also the health probe (there is no curl here).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /authgraph /authgraph
ENV AUTHGRAPH_ADDR=0.0.0.0:8080
EXPOSE 8080
USER nonroot:nonroot
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/authgraph", "healthcheck"]
ENTRYPOINT ["/authgraph"]
