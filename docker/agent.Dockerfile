# opal-client image (the agent). Build from the repository root:
#   docker build -f docker/agent.Dockerfile -t pdl/opal-client:dev .
# Stage 1 installs the toolchain with the repo's own scripts/setup.sh and builds only opal-client
# (Release). Stage 2 is debian:12-slim plus exactly the packages that own the shared libraries
# `ldd` lists for the binary (computed in stage 1, so a new dependency is picked up by itself),
# and ca-certificates: the agent verifies data sources' HTTPS against the system store. The script
# fails, and with it the build, when it cannot map a library to a package.

FROM debian:12 AS build
ENV DEBIAN_FRONTEND=noninteractive
COPY scripts/setup.sh /src/scripts/setup.sh
RUN bash /src/scripts/setup.sh && rm -rf /var/lib/apt/lists/*
COPY . /src
WORKDIR /src
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DPDL_BUILD_TESTS=OFF \
 && cmake --build /build --target opal-client -j"$(nproc)" \
 && strip -o /opal-client /build/opal-client \
 && bash docker/runtime-packages.sh /opal-client > /runtime-packages.txt \
 && echo ca-certificates >> /runtime-packages.txt

FROM debian:12-slim
COPY --from=build /runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive xargs -a /tmp/runtime-packages.txt \
      apt-get install -y -qq --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt
COPY --from=build /opal-client /usr/local/bin/opal-client
# GnuTLS is in the process only because libcurl's librtmp links it; the agent never uses it (its
# libcurl speaks http and https, over OpenSSL). Skipping its load-time initialisation saves
# ~120 KiB of private memory per agent (docs/benchmarks.md).
ENV GNUTLS_NO_IMPLICIT_INIT=1
# 65532: the conventional "nonroot" id; the manifests run as it (runAsUser) with a read-only root.
USER 65532:65532
EXPOSE 7000
ENTRYPOINT ["/usr/local/bin/opal-client"]
CMD ["run"]
