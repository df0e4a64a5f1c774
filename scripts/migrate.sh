#!/usr/bin/env bash
# Applies pending migrations to DATABASE_URL.
source "$(dirname "$0")/services.sh"
[ -n "${DATABASE_URL:-}" ] || { log "DATABASE_URL is not set"; exit 2; }
run_migrations "$DATABASE_URL"
log "migrations applied"
