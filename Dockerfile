# egress-sentinel: `run` (the Kafka service) by default; any other command works too, e.g.
#   docker run --rm egress-sentinel replay          (the bundled demo, offline)
# Settings come from the environment (KAFKA_BROKERS, EGRESS_*; see `run --help`). Mount secrets as
# files and pass their paths (KAFKA_SASL_PASSWORD_FILE, EGRESS_METRICS_TOKEN_FILE, webhook secrets
# through ${VAR} in the configuration), never their values. Checked by hadolint in test/unit/deploy.test.ts.

# Build: the TypeScript compiled with the dev dependencies.
FROM node:20.19-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --no-audit --no-fund --ignore-scripts && npx patch-package
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY src ./src
COPY detectors ./detectors
COPY scripts ./scripts
COPY bench ./bench
COPY fixtures/demo ./fixtures/demo
RUN npm run build && npm prune --omit=dev --ignore-scripts

# Run: Node LTS, the built code and the runtime dependencies, as the unprivileged `node` user (uid 1000 in the node images).
FROM node:20.19-bookworm-slim
ENV NODE_ENV=production \
    EGRESS_HTTP_HOST=0.0.0.0 \
    EGRESS_HTTP_PORT=8080
WORKDIR /app
COPY --from=build --chown=root:root /src/package.json ./
COPY --from=build --chown=root:root /src/node_modules ./node_modules
COPY --from=build --chown=root:root /src/bin ./bin
COPY --from=build --chown=root:root /src/dist ./dist
COPY --from=build --chown=root:root /src/fixtures/demo ./fixtures/demo
USER 1000:1000
EXPOSE 8080
# /livez answers once the process is up; /readyz once it consumes (orchestrators should probe that).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.EGRESS_HTTP_PORT||8080)+'/livez').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM stops it gracefully (finish the batch, commit, flush) within 25 s: give it 30 s (docker stop -t 30).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/egress-sentinel.js"]
CMD ["run"]
