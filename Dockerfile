# HDMS: a production image. Build: docker build -t hdms . ; run: see compose.yaml.
# The steps below are the ones `tests/unit/container.test.ts` holds to the README's production
# sequence (npm ci, npm run build, npm prune --omit=dev, start:prod's command): keep them in step.
# Operator commands run from the compiled tree in the image (no tsx there), e.g.
#   docker run --rm -it -v hdms-data:/data hdms npm run admin -- create-user <name> --email <email> --role admin
#   docker run --rm -v hdms-data:/data hdms node server/dist/admin.js reset-password

# Build stage: install everything, compile the server and the SDK, then drop the dev dependencies
# (prune: no second install; tsx, esbuild and vitest are gone).
FROM node:20-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY db/package.json db/
COPY server/package.json server/
COPY client-sdk/package.json client-sdk/
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build
RUN npm prune --omit=dev --no-audit --no-fund

# Runtime stage: the compiled server and production dependencies only, as a non-root user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000 DATABASE_URL=sqlite:/data/hdms.sqlite
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json /app/package-lock.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/db ./db
COPY --from=build --chown=node:node /app/server ./server
COPY --from=build --chown=node:node /app/client-sdk ./client-sdk
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--enable-source-maps", "server/dist/index.js"]
