#!/usr/bin/env bash
# The Go tools the deployment tests run, built once from the Go module proxy into
# <repo>/.services/bin (rebuilt only when their source or version changes):
#
#   composecheck  tests/services/composecheck: the Compose specification's Go module
#                 (github.com/compose-spec/compose-go/v2) loads and validates deploy/compose/
#   helm          helm.sh/helm/v4's cmd/helm, for `helm template` of deploy/helm/cskh
#   toxiproxy     github.com/Shopify/toxiproxy/v2's server, the TCP fault proxy the fault
#                 suite (tests/faults) puts between the service and PostgreSQL (on demand only)
#
#   tests/services/gotools.sh [composecheck] [helm] [toxiproxy]    (default: the first two)
#
# Prints "NAME=PATH" for each tool that is ready; exits non-zero when one cannot be built.
# tests/services/services.sh up runs it (service "tools") and writes CSKH_TEST_COMPOSECHECK and
# CSKH_TEST_HELM into .services/env; the tests also run it themselves when those are unset.
set -euo pipefail

HELM_MODULE="helm.sh/helm/v4"
HELM_VERSION="v4.3.2"
TOXIPROXY_MODULE="github.com/Shopify/toxiproxy/v2"
TOXIPROXY_VERSION="v2.5.0"

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
REPO="$(cd -- "$SCRIPT_DIR/../.." && pwd -P)"
BIN="$REPO/.services/bin"

say() { printf '[gotools] %s\n' "$*" >&2; }

need_go() {
    if ! command -v go >/dev/null 2>&1; then
        say "ERROR: no 'go' command on PATH (Go >= 1.24 is needed to build $1)"
        return 1
    fi
}

# sha256 of what a tool is built from; the binary is reused while it matches.
stamp_of() {
    case "$1" in
        composecheck) cat "$SCRIPT_DIR/composecheck/go.mod" "$SCRIPT_DIR/composecheck/go.sum" \
                          "$SCRIPT_DIR/composecheck/main.go" | sha256sum | cut -d' ' -f1 ;;
        helm) echo "$HELM_MODULE@$HELM_VERSION" ;;
        toxiproxy) echo "$TOXIPROXY_MODULE@$TOXIPROXY_VERSION" ;;
    esac
}

build() {
    local name="$1" want out="$BIN/$1" tmp t0
    want="$(stamp_of "$name")"
    if [[ -x "$out" && -f "$out.stamp" && "$(cat "$out.stamp")" == "$want" ]]; then
        echo "$name=$out"
        return 0
    fi
    need_go "$name" || return 1
    mkdir -p "$BIN"
    tmp="$(mktemp -d "$BIN/.build.XXXXXX")"
    t0="$(date +%s)"
    say "$name: building (cached afterwards in $BIN)"
    case "$name" in
        composecheck)
            (cd "$SCRIPT_DIR/composecheck" && GOTOOLCHAIN=local GOFLAGS=-buildvcs=false \
                go build -trimpath -o "$tmp/$name" .) >&2 || { rm -rf "$tmp"; return 1; }
            ;;
        helm)
            (cd "$tmp" && GOTOOLCHAIN=local GOFLAGS=-buildvcs=false GOBIN="$tmp" \
                go install -trimpath "$HELM_MODULE/cmd/helm@$HELM_VERSION") >&2 \
                || { rm -rf "$tmp"; return 1; }
            ;;
        toxiproxy)
            (cd "$tmp" && GOTOOLCHAIN=local GOFLAGS=-buildvcs=false GOBIN="$tmp" \
                go install -trimpath "$TOXIPROXY_MODULE/cmd/server@$TOXIPROXY_VERSION") >&2 \
                || { rm -rf "$tmp"; return 1; }
            mv -f "$tmp/server" "$tmp/$name"
            ;;
    esac
    mv -f "$tmp/$name" "$out"
    rm -rf "$tmp"
    echo "$want" >"$out.stamp"
    say "$name: built in $(( $(date +%s) - t0 ))s"
    echo "$name=$out"
}

main() {
    local names=("$@") n rc=0
    [[ ${#names[@]} -gt 0 ]] || names=(composecheck helm)
    for n in "${names[@]}"; do
        case "$n" in
            composecheck|helm|toxiproxy) build "$n" || { say "ERROR: could not build $n"; rc=1; } ;;
            *) say "unknown tool '$n' (composecheck, helm, toxiproxy)"; return 2 ;;
        esac
    done
    return "$rc"
}

main "$@"
