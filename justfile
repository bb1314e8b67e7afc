set shell := ["bash", "-euo", "pipefail", "-c"]
export PATH := justfile_directory() + "/.venv/bin:" + env_var("PATH")

# List the recipes
default:
    @just --list

# Everything CI checks: lint, format, types, tests
test: lint typecheck pytest

# Ruff lint and format check
lint:
    ruff check .
    ruff format --check .

# Rewrite files with ruff's fixes and formatting
fmt:
    ruff check --fix .
    ruff format .

# Static type check of the packages
typecheck:
    pyright

# The pytest suite in four workers per core (pytest-xdist): much of a test's time is spent waiting on
# X servers, uvicorn, sockets and timers, and a worker costs ~1 CPU-s to start (forked from the tests'
# launcher with the SDKs imported). Extra pytest arguments go after the recipe name.
# Bytecode is cached (__pycache__, git-ignored) even where the environment sets PYTHONDONTWRITEBYTECODE:
# otherwise every worker and every `realtime-mcp` the tests start compiles the mcp and openai packages
# and pytest rewrites every test module again, about a third of the suite's CPU time. `loadgroup`: the
# tests of one xdist_group run on one worker (the browser tests share that worker's Chromium; pytest
# stays below 9.2, where the group is silently ignored, pytest-xdist#1386).
pytest *args:
    PYTHONDONTWRITEBYTECODE= pytest -n "$(( $(nproc) * 4 ))" --dist loadgroup {{args}}

# The suite at the lowest versions pyproject.toml allows (direct dependencies at their floors), in .venv-lowest
test-lowest *args:
    uv venv -q --allow-existing --python python3 .venv-lowest
    uv pip compile -q --resolution lowest-direct --extra dev pyproject.toml -o .venv-lowest/requirements.txt
    uv pip sync -q --compile-bytecode --python .venv-lowest/bin/python .venv-lowest/requirements.txt
    uv pip install -q --python .venv-lowest/bin/python --no-deps -e .
    PYTHONDONTWRITEBYTECODE= .venv-lowest/bin/pytest -q -p no:cacheprovider -n "$(( $(nproc) * 4 ))" --dist loadgroup {{args}}

# Refresh uv.lock after a change to pyproject.toml's dependencies
lock:
    uv lock

# Run the whole suite on embedded defaults
serve *args:
    realtime-mcp serve {{args}}

# Build the image (base: any Debian-family image with python3 and its venv module; DOCKER=podman works)
docker-build tag="realtime-mcp:latest" base="python:3.11-slim":
    fmt=(); if [ "${DOCKER:-docker}" = podman ]; then fmt=(--format docker); fi; \
    ${DOCKER:-docker} build "${fmt[@]}" --build-arg BASE_IMAGE={{base}} -f docker/Dockerfile -t {{tag}} .

# Run the image on 127.0.0.1:8765 with settings from docker/.env, optionally mounting a skills folder
docker-run tag="realtime-mcp:latest" skills="":
    vol=(); if [ -n "{{skills}}" ]; then vol=(--volume "$(realpath '{{skills}}'):/skills:ro"); fi; \
    ${DOCKER:-docker} run --rm --name realtime-mcp --env-file docker/.env -p 127.0.0.1:8765:8765 \
      --read-only --tmpfs /tmp "${vol[@]}" {{tag}}

# Build the image and prove it serves via a real MCP client (docker, else podman + chroot)
test-image:
    bash scripts/image-test.sh

# Relay latency: capture_screen and point_at through a capture client vs the local device (2560x1600 Xvfb)
bench-relay *args:
    python bench/bench_relay.py {{args}}

# Realtime bridge latency: push-to-talk press and hosted-MCP capture to the image item at a fake Realtime service
bench-bridge *args:
    python bench/bench_bridge.py {{args}}

# Screen/pointer latency on a 2560x1600 Xvfb: capture_screen vs naive full-res PNG, point_at, echo floor
bench-screen *args:
    python bench/bench_screen.py {{args}}

# Three replicas on Redis: capture/point_at through a non-owning replica vs the owner, skills calls/s with 50 clients
bench-scale *args:
    python bench/bench_scale.py {{args}}

# Hostile probe (issue 9): X clients across 50 resets on Xvnc, time to drop a non-reading device, /healthz under an idle-socket flood
bench-probe:
    python bench/probe_hardening.py

# Skills at scale: 10,000 generated skills - start-up, load_skill vs an echo tool, search, tools/list size, reload
bench-skills *args:
    python bench/bench_skills.py {{args}}

# Regenerate the README's configuration table from servers/settings.py
docs:
    python -m servers.settings_reference --write
