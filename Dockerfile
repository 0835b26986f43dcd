# The onsale image: one binary for every role (serve, worker notification|ticket|expiry,
# migrate, seed, ...), built with Kafka TLS for Amazon MSK. docs/DEPLOY.md shows how to build
# and push it.
#
# NOTE: not built on the project's build machine, which reaches no container registry; the
# first pipeline that builds it is its first test.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p onsale-origin --features kafka-tls

FROM debian:bookworm-slim
# checkov:skip=CKV_DOCKER_2: no HEALTHCHECK, because the load balancer checks /readyz and the worker roles serve no HTTP
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 onsale
COPY --from=build /src/target/release/onsale /usr/local/bin/onsale
COPY data /opt/onsale/data
WORKDIR /opt/onsale
USER onsale
ENTRYPOINT ["onsale"]
