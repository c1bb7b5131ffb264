# socklab's container: Debian 12 with exactly the packages of harness/deps.txt, every group
# (grading, the kit's own tests, the docs, the benchmarks, the screenshots and the pip fallback).
# .devcontainer/devcontainer.json builds it for VS Code and GitHub Codespaces.
#   docker build -t socklab . && docker run --rm -it -v "$PWD":/work socklab make grade LAB=01
# It is not built by the kit's tests (there is no container engine where they run):
# harness/selftest/test_platform.py parses it and checks that the list below is harness/deps.txt.
FROM debian:12
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y \
      python3 \
      python3-pytest \
      python3-pytest-xdist \
      python3-pytest-timeout \
      python3-psutil \
      gcc \
      libc6-dev \
      make \
      iproute2 \
      ncat \
      util-linux \
      bubblewrap \
      procps \
      valgrind \
      tcpdump \
      python3-h11 \
      curl \
      patch \
      git \
      stress-ng \
      clang \
      npm \
      doxygen \
      graphviz \
      iperf3 \
      socat \
      python3-matplotlib \
      wrk \
      nginx-light \
      lighttpd \
      chromium \
      libssl-dev \
      openssl \
      python3-cryptography \
      gnutls-bin \
      python3-websockets \
      python3-pip \
 && rm -rf /var/lib/apt/lists/*
# Work as an ordinary user, as a student would: make test and make grade run without root
# (the grader's sandbox falls back to rlimits; the checks that need root are skipped and say so).
RUN useradd --create-home --shell /bin/bash student
USER student
WORKDIR /work
CMD ["bash"]
