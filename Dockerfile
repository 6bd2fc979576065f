# The API image. Stage `build` compiles the TypeScript; stage `deps` installs the API's
# runtime dependencies alone; stage `storefront` bundles the shop's web pages (web/); the
# final stage holds the runtime dependencies, the compiled code and the storefront's static
# files (copied for Nginx by the `storefront` one-shot service): no compiler, tests, npm
# cache or source maps. Needs no package manager of the base image
# (works on node:24-alpine and on Debian-based Node images alike).
#
#   docker build --network host -t shop-api:dev \
#     --build-arg APP_VERSION=1.2.3 --build-arg GIT_SHA=$(git rev-parse HEAD) .
ARG NODE_IMAGE=node:24-alpine

# No `--platform=$BUILDPLATFORM` on the builder stages: the classic builder (Docker 20.10,
# Compose v1) leaves it empty and refuses the FROM line.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Manifests first: the install layer is reused until they change.
COPY package.json package-lock.json ./
COPY api/package.json api/
COPY cli/package.json cli/
COPY web/package.json web/
# The api workspace with its devDependencies (typescript, @types): not the root's test tools.
RUN npm ci --workspace api --ignore-scripts --no-audit --no-fund
COPY tsconfig.base.json ./
COPY api/tsconfig.json api/
COPY api/src api/src
RUN npm run build --workspace api \
 && find api/dist -name '*.map' -delete

# The storefront: Preact + TypeScript bundled by esbuild into web/dist (index.html and
# content-hashed assets); the build fails when the JavaScript is over its gzipped budget.
FROM ${NODE_IMAGE} AS storefront
WORKDIR /app
COPY package.json package-lock.json ./
COPY api/package.json api/
COPY cli/package.json cli/
COPY web/package.json web/
RUN npm ci --workspace web --ignore-scripts --no-audit --no-fund
COPY web/build.mjs web/index.html web/favicon.svg web/
COPY web/src web/src
RUN npm run build --workspace web

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY api/package.json api/
COPY cli/package.json cli/
COPY web/package.json web/
# Only what the API loads at run time. Then drop files node never reads: type
# declarations, source maps, TypeScript sources, the packages' own tests, examples and
# docs (licences stay; no package's entry point lies in those folders), and the parts of
# swagger-ui-dist that the /docs route does not serve (api/src/http/routes/docs.ts).
RUN npm ci --omit=dev --workspace api --ignore-scripts --no-audit --no-fund \
 && find node_modules -mindepth 2 -type d \( -name test -o -name tests -o -name __tests__ \
      -o -name example -o -name examples -o -name benchmark -o -name benchmarks -o -name docs \) -prune \
      -exec rm -rf {} + \
 && find node_modules -type f \( -name '*.d.ts' -o -name '*.d.cts' -o -name '*.d.mts' \
      -o -name '*.map' -o -name '*.ts' -o -name '*.tsbuildinfo' -o -name '*.test.*' -o -name '*.spec.*' \
      -o -iname 'readme*' -o -iname 'changelog*' -o -iname 'history.md' -o -iname 'contributing*' \) -delete \
 && find node_modules/swagger-ui-dist -maxdepth 1 -type f \
      ! -name package.json ! -name index.js ! -name absolute-path.js ! -name 'LICENSE*' \
      ! -name swagger-ui.css ! -name swagger-ui-bundle.js ! -name favicon-32x32.png -delete \
 && rm -rf /root/.npm /tmp/*

FROM ${NODE_IMAGE} AS production
WORKDIR /app
# The repository's layout: api/dist, node_modules, database/ (found relative to api/dist).
COPY --from=deps /app/node_modules node_modules
COPY --from=build /app/api/dist api/dist
COPY api/package.json api/
COPY database/migrations database/migrations
COPY database/sample-data.sql database/
# Static files for Nginx, and the empty folder the `storefront` service copies them into (a
# new named volume takes this folder's owner, so the unprivileged copy can write there).
COPY --from=storefront /app/web/dist storefront
RUN mkdir -p /srv/storefront && chown 1000:1000 /srv/storefront
# The base image's `node` user; numeric so that runtimes can check it is not root.
USER 1000:1000
EXPOSE 8000
# node is the process that receives it (directly, or through tini with `init: true`) and
# drains: /health/ready turns 503, in-flight requests finish, then it exits.
STOPSIGNAL SIGTERM
# config/api/healthcheck.sh: GET /health/ready with the cheapest client the image has
# (busybox wget on alpine, bash /dev/tcp on Debian-based images, node as the last resort).
# Every 3 s, so that a new container is healthy within 5 s (Docker 20.10 has no
# --start-interval).
COPY config/api/healthcheck.sh /app/healthcheck.sh
HEALTHCHECK --interval=3s --timeout=3s --start-period=60s --retries=3 \
  CMD ["sh", "/app/healthcheck.sh"]
# Last, so that a new version or commit does not invalidate the layers above.
ARG APP_VERSION=dev
ARG GIT_SHA=unknown
ARG SOURCE_URL=
LABEL org.opencontainers.image.title="shop-api" \
      org.opencontainers.image.description="Shop REST API: Koa, PostgreSQL, Redis" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${APP_VERSION}" \
      org.opencontainers.image.revision="${GIT_SHA}" \
      org.opencontainers.image.source="${SOURCE_URL}"
ENV NODE_ENV=production \
    PORT=8000 \
    APP_VERSION=${APP_VERSION}
CMD ["node", "api/dist/server.js"]
