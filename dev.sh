#!/usr/bin/env bash
# berth's one entry point for people and CI.
#   ./dev.sh run [berthd flags…]   install what is missing, build, run berthd in the foreground
#   ./dev.sh test                  install what is missing, build, run every test; ends with
#                                  "N passed, N failed"
#   ./dev.sh setup | build | bench
set -euo pipefail
cd "$(dirname "$0")"

BUILD_DIR=${BUILD_DIR:-build}
# Build dependencies and the test-only tools (docker CLI comes with the machine).
PACKAGES=(g++ pkg-config meson ninja-build liburing-dev node-llhttp libsimdjson-dev libzstd-dev
          zlib1g-dev libssl-dev libsqlite3-dev libcli11-dev libgtest-dev libbenchmark-dev
          libseccomp-dev libnftables-dev busybox-static python3 python3-docker curl iproute2
          docker-registry apache2-utils openssl skopeo docker-compose nftables util-linux)

setup() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        echo "berth: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

build() {
    # WERROR=true for tests (CI); otherwise keep what the build directory has, so `run` after
    # `test` does not rebuild everything.
    local werror=${WERROR:-$(cat "$BUILD_DIR/.werror" 2>/dev/null || echo false)}
    if [ ! -f "$BUILD_DIR/build.ninja" ]; then
        meson setup "$BUILD_DIR" --buildtype=debugoptimized -Dwerror="$werror" >/dev/null
    elif [ "$(cat "$BUILD_DIR/.werror" 2>/dev/null)" != "$werror" ]; then
        # Only when it changes: reconfiguring rebuilds everything.
        meson configure "$BUILD_DIR" -Dwerror="$werror" >/dev/null
    fi
    echo "$werror" > "$BUILD_DIR/.werror"
    if ! ninja -C "$BUILD_DIR" > "$BUILD_DIR/build.log" 2>&1; then
        grep -E -A12 'error|FAILED' "$BUILD_DIR/build.log" | head -80
        echo "berth: the build failed; the whole log is $BUILD_DIR/build.log"
        return 1
    fi
}

run_tests() {
    local logdir="$BUILD_DIR/test-logs"
    rm -rf "$logdir" && mkdir -p "$logdir"
    local passed=0 failed=0 skipped=0 rc=0
    for t in unit/unit_tests loop/loop_tests kernel/kernel_tests e2e/e2e_tests; do
        local bin="$BUILD_DIR/tests/$t" name
        name=$(basename "$t")
        echo "== $name"
        set +e
        "$bin" --gtest_color=no 2>&1 | tee "$logdir/$name.log" | grep -E '^\[ +(OK|FAILED|SKIPPED) +\]|^\[==========\]' | grep -v ' tests, listed below' || true
        local st=${PIPESTATUS[0]}
        set -e
        local p f s
        p=$(grep -cE '^\[       OK \]' "$logdir/$name.log" || true)
        f=$(grep -E '^\[  FAILED  \] .*\(' "$logdir/$name.log" | grep -vc 'tests, listed below' || true)
        s=$(grep -cE '^\[  SKIPPED \] .*\(' "$logdir/$name.log" || true)
        if [ "$st" -ne 0 ] && [ "$f" -eq 0 ]; then
            echo "$name exited with status $st (crash?) — see $logdir/$name.log"
            f=$((f + 1))
        fi
        passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
        [ "$st" -ne 0 ] && rc=1
    done
    # The benchmark tools must keep working; their numbers are not judged here.
    for b in "ping_load --quick" "spawn_bench --quick" \
             "berth-bench --quick --out $logdir/berth-bench.json --svg $logdir/berth-bench.svg"; do
        local exe=${b%% *}
        [ -x "$BUILD_DIR/benchmarks/$exe" ] || continue
        echo "== $b"
        if "$BUILD_DIR/benchmarks/"$b > "$logdir/$exe.log" 2>&1; then
            passed=$((passed + 1)); tail -2 "$logdir/$exe.log"
        else
            failed=$((failed + 1)); rc=1; cat "$logdir/$exe.log"
        fi
    done
    ((skipped)) && echo "($skipped skipped)"
    echo "$passed passed, $failed failed"
    return $rc
}

cmd=${1:-help}
shift || true
case "$cmd" in
    setup) setup ;;
    build) setup; build ;;
    run)
        setup; build
        exec "$BUILD_DIR/src/berthd" "$@" ;;
    test)
        setup; WERROR=true build
        run_tests ;;
    bench)
        setup; build
        "$BUILD_DIR/benchmarks/parse_route_bench"
        "$BUILD_DIR/benchmarks/ping_load" "$@"
        "$BUILD_DIR/benchmarks/spawn_bench"
        "$BUILD_DIR/benchmarks/spawn_bench" --netns
        "$BUILD_DIR/benchmarks/berth-bench" --out "$BUILD_DIR/berth-bench.json" \
            --svg "$BUILD_DIR/berth-bench.svg" ;;
    *)
        sed -n '2,7p' "$0"; exit 2 ;;
esac
