# opal-server image. Build from the repository root:
#   docker build -f docker/server.Dockerfile -t pdl/opal-server:dev .
# Stage 1 installs the toolchain with the repo's own scripts/setup.sh and builds only opal-server
# (Release). Stage 2 is debian:12-slim plus exactly the packages that own the shared libraries
# `ldd` lists for the binary (computed in stage 1, so a new dependency is picked up by itself); the
# script fails, and with it the build, when it cannot map a library to a package.

FROM debian:12 AS build
ENV DEBIAN_FRONTEND=noninteractive
COPY scripts/setup.sh /src/scripts/setup.sh
RUN bash /src/scripts/setup.sh && rm -rf /var/lib/apt/lists/*
COPY . /src
WORKDIR /src
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DPDL_BUILD_TESTS=OFF \
 && cmake --build /build --target opal-server -j"$(nproc)" \
 && strip -o /opal-server /build/opal-server \
 && bash docker/runtime-packages.sh /opal-server > /runtime-packages.txt

FROM debian:12-slim
COPY --from=build /runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive xargs -a /tmp/runtime-packages.txt \
      apt-get install -y -qq --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt
COPY --from=build /opal-server /usr/local/bin/opal-server
# 65532: the conventional "nonroot" id; the manifests run as it (runAsUser) with a read-only root.
USER 65532:65532
EXPOSE 7002
ENTRYPOINT ["/usr/local/bin/opal-server"]
CMD ["run"]
