# syntax=docker/dockerfile:1

# Build a static binary.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/notification-server .

# Run it on a minimal image: no shell, CA certificates included, non-root.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/notification-server /notification-server
USER nonroot:nonroot
ENV PORT=3000
EXPOSE 3000
# The image has no curl: the binary probes /api/status/ping itself.
HEALTHCHECK --interval=15s --timeout=5s --start-period=5s --retries=3 \
  CMD ["/notification-server", "-healthcheck"]
ENTRYPOINT ["/notification-server"]
