#!/usr/bin/env bash
# TLS end to end (issue 17; Tests/tls/tls_test.py): the real server and client binaries with
# openssl s_client/s_server, ncat --ssl and Python's ssl module, on 127.0.0.1, with certificates
# the test makes with the openssl command. Pass test names to run a few:
#   scripts/test.d/60-tls.sh scene reload
# TCPCHAT_TLS_BIN=DIR runs the binaries of DIR instead (85-sanitizers runs it on an ASan build).
set -euo pipefail
cd "$(dirname "$0")/../.."
export SWIFT_BACKTRACE=enable=no

need=()
command -v openssl >/dev/null || need+=(openssl)
command -v ncat >/dev/null || need+=(ncat)
command -v python3 >/dev/null || need+=(python3)
command -v ss >/dev/null || need+=(iproute2)
[ -f /usr/include/openssl/ssl.h ] || need+=(libssl-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "missing: ${need[*]}"; exit 1; fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ -n "${TCPCHAT_TLS_BIN:-}" ]; then
  bin=$TCPCHAT_TLS_BIN
else
  swift build --product tcpchat-server
  swift build --product tcpchat-client
  bin=$(swift build --show-bin-path)
fi

# The library links OpenSSL's libssl and libcrypto, and nothing else new.
libraries=$(ldd "$bin/libtcpchat.so" 2>/dev/null || true)
if [ -n "$libraries" ]; then
  grep -q 'libssl\.so\.3' <<<"$libraries" || { echo "libtcpchat.so does not link libssl.so.3"; exit 1; }
fi

python3 Tests/tls/tls_test.py "$bin/tcpchat-server" "$bin/tcpchat-client" "$@"
