# Build a static, cgo-free binary, then run it as a non-root user on a minimal image.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/hotline ./cmd/hotline

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/hotline /usr/local/bin/hotline
USER nonroot:nonroot
WORKDIR /home/nonroot
EXPOSE 8080
VOLUME ["/home/nonroot/data"]
ENTRYPOINT ["/usr/local/bin/hotline"]
CMD ["serve", "-addr", "0.0.0.0:8080", "-data", "/home/nonroot/data"]
