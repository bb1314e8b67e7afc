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

# The pytest suite (pass extra pytest arguments after the recipe name)
pytest *args:
    pytest {{args}}

# Run the whole suite on embedded defaults
serve *args:
    realtime-mcp serve {{args}}
