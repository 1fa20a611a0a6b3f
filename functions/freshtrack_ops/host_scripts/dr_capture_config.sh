#!/usr/bin/env bash
# Capture the app's configuration on the primary (the disaster recovery's dr-capture-config step, SSH and the
# local transport only): print the capture payload of lib/app_config.sh on stdout — .env.production and
# secrets/ as a gzip'd tar, the origin URL and `git describe --tags --always` of the app directory. The payload
# holds the app's secrets: it travels on the command's channel only and is never logged. This script has no SSM
# Command document (host_scripts/ssm_document.py SSH_ONLY_SCRIPTS): SSM keeps every command's output, so over SSM
# ssm_dr_capture_config.sh uploads the same payload to a presigned URL instead.
# Exit 66: no .env.production; 67: a refused entry in secrets/; 69: the archive is too large.
set -euo pipefail
: "${APP_DIR:?}"
export LC_ALL=C

# @include lib/git_tree.sh
# @include lib/app_config.sh

cd "$APP_DIR"
capture_config
