# Multi-stage build: compile in the Rust image, run as a non-root user in a slim Debian image.
#   docker build -t switchboard .
#   docker run -p 8080:8080 -p 8081:8081 -e JWT_SECRET=… -e PUBLIC_URL=https://chat.example.com switchboard
# Without Docker Hub, point the two images at a local mirror or registry:
#   docker build --build-arg RUST_IMAGE=registry.local/rust:1-bookworm --build-arg RUNTIME_IMAGE=registry.local/debian:bookworm-slim .
ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS builder
WORKDIR /src
# Dependencies first, so a source change does not rebuild them. The manifest names a test and a
# bench target; stubs stand in for them (only the binary is built).
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches tests/api && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
 && echo 'fn main() {}' > benches/hot_paths.rs && echo 'fn main() {}' > tests/api/main.rs \
 && cargo build --release --locked --bin switchboard \
 && rm -rf src
COPY src src
COPY migrations migrations
COPY assets assets
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin switchboard \
 && strip target/release/switchboard

FROM ${RUNTIME_IMAGE} AS runtime
# TLS roots are compiled in (rustls + webpki roots): the image needs no CA bundle or OpenSSL.
RUN groupadd --system --gid 10001 switchboard \
 && useradd --system --uid 10001 --gid switchboard --home-dir /var/lib/switchboard --shell /usr/sbin/nologin switchboard \
 && mkdir -p /var/lib/switchboard && chown switchboard:switchboard /var/lib/switchboard
COPY --from=builder /src/target/release/switchboard /usr/local/bin/switchboard
USER 10001:10001
WORKDIR /var/lib/switchboard
ENV HOST=0.0.0.0 \
    PORT=8080 \
    SOCKETIO_PORT=8081 \
    DATABASE_URL=sqlite:///var/lib/switchboard/switchboard.db
VOLUME ["/var/lib/switchboard"]
EXPOSE 8080 8081
# SIGTERM: /readyz turns 503, sockets close with 1012 (reconnect), exit 0 within SHUTDOWN_GRACE_SECONDS.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/switchboard"]
