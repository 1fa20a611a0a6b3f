#!/usr/bin/env bash
# Credentials over SSH (host_scripts.ssh_command): a presigned URL never goes on the command line, which the host's
# process list shows to every local user while it runs (found by the secrets scan: the host jobs' OBJECT_URL and
# PART_URLS_URL). The SSH runner sends them first on stdin, each a NUL-terminated NAME=value record, an empty record
# last; only the names listed in FTOPS_STDIN_CREDENTIALS (the script's credential parameters) are taken. bash's read
# takes a pipe byte by byte, so whatever follows the records is the script's own stdin, untouched.
if [[ -n "${FTOPS_STDIN_CREDENTIALS:-}" ]]; then
  while IFS= read -r -d '' ftops_record && [[ -n "$ftops_record" ]]; do
    case " $FTOPS_STDIN_CREDENTIALS " in
      *" ${ftops_record%%=*} "*) declare -gx "$ftops_record" ;;
      *)
        echo "stdin credential ${ftops_record%%=*}: not one of this script's" >&2
        exit 64
        ;;
    esac
  done
  unset ftops_record FTOPS_STDIN_CREDENTIALS
fi
