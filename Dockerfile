# syntax=docker/dockerfile:1
#
# lab's container image: the `lab` CLI, and what a worker needs besides Node.js: nix (evaluate,
# build and copy the homelab's systems), the OpenSSH client (`nix copy --to ssh-ng://` runs ssh)
# and git (nix reads git flakes with it).
#
#   docker compose build              or: docker build -t lab:local .
#   docker compose up -d              lab serve + Redis, see docker-compose.yml
#   docker run --rm -v "$PWD":/flake:ro lab:local sequence
#
# Nothing secret is in the image: the Discord token, the SSH key and known_hosts are mounted at
# run time (compose secrets under /run/secrets).

ARG NODE_IMAGE=node:22-bookworm-slim

# ---- build: compile the TypeScript, then keep only the production dependencies -------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
# The lock file alone decides the dependencies; this layer is reused until it changes.
COPY package.json package-lock.json ./
# ssh2's optional native add-ons (its crypto binding, cpu-features) need a compiler, which the
# slim image lacks: their builds fail harmlessly ("Failed to build optional crypto binding") and
# ssh2 uses Node's own crypto.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY assets ./assets
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# ---- runtime ---------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime

# lab runs as this user; files mounted from the host (secrets, the flake) must be readable by it.
ARG LAB_UID=10001
ARG LAB_GID=10001

# nix-bin: Debian's Nix 2.8 (lab supports 2.8 and newer). --no-install-recommends leaves out
# nix-setup-systemd, the nix-daemon units: there is no systemd and no daemon here, nix runs in
# single-user mode (see docker/nix.conf). tini is PID 1: it forwards SIGTERM to lab and reaps
# the ssh and nix processes lab leaves behind.
RUN apt-get update \
  && apt-get install -y --no-install-recommends nix-bin openssh-client git ca-certificates tini \
  && rm -rf /var/lib/apt/lists/*

# Single-user Nix: the lab user owns the store (/nix/store) and its database (/nix/var/nix).
# The directories that docker-compose.yml mounts named volumes on (/nix, /home/lab/.cache) exist
# here owned by lab: Docker copies a directory's content and ownership into a new named volume,
# so the volumes belong to lab too.
# safe.directory: the flake is mounted from the host, owned by another uid, and git refuses to
# read a repository of another owner ("dubious ownership") unless told otherwise.
RUN groupadd --gid "${LAB_GID}" lab \
  && useradd --uid "${LAB_UID}" --gid lab --home-dir /home/lab --create-home --shell /bin/bash lab \
  && mkdir -p /nix/store /nix/var/nix /home/lab/.cache/lab /home/lab/.ssh \
  && chown -R lab:lab /nix /home/lab \
  && chmod 0700 /home/lab/.ssh \
  && git config --system safe.directory '*'
COPY docker/nix.conf /etc/nix/nix.conf

# The application belongs to root: the lab user can run it, not change it.
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# The run report picture's font (the slim image has no fonts): dist/orchestration reads ../../assets.
COPY --from=build /src/assets ./assets
RUN ln -s /app/dist/cli/main.js /usr/local/bin/lab && lab --version

# LOG_FORMAT=json: one JSON object per log line, for `docker compose logs` and log collectors
# (override with LOG_FORMAT=pretty in .env). LAB_CACHE_DIR: lab's evaluation cache, on the
# compose volume mounted at /home/lab/.cache (which also keeps nix's own fetcher cache).
ENV NODE_ENV=production \
  LOG_FORMAT=json \
  HOME=/home/lab \
  LAB_CACHE_DIR=/home/lab/.cache/lab \
  LAB_FLAKE=/flake

LABEL org.opencontainers.image.title="lab" \
  org.opencontainers.image.description="Chat-ops orchestrator for NixOS homelabs: ordered, health-gated deploys and reboots from Discord or a terminal" \
  org.opencontainers.image.licenses="MIT"

USER ${LAB_UID}:${LAB_GID}

# lab serve and lab worker park their running runs on SIGTERM and exit 0 (a run cut short by the
# kill that follows the grace period is picked up again after a restart). tini without -g passes
# the signal to lab alone: a nix build lab is waiting for is not killed under it.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "lab"]
CMD ["serve"]
