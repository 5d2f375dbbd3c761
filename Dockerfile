# marketetl service image: a static etl binary on a small base.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/etl ./cmd/etl

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 etl
# The durable spool (see README): a directory the service may write.
RUN mkdir -p /var/lib/marketetl/spool && chown etl /var/lib/marketetl/spool
ENV SPOOL_DIR=/var/lib/marketetl/spool
COPY --from=build /out/etl /usr/local/bin/etl
COPY collectors.yaml /etc/marketetl/collectors.yaml
ENV ETL_CONFIG=/etc/marketetl/collectors.yaml \
    ETL_ADMIN_ADDR=0.0.0.0:8080 \
    LOG_FORMAT=json
EXPOSE 8080
USER etl
ENTRYPOINT ["/usr/local/bin/etl"]
CMD ["run"]
