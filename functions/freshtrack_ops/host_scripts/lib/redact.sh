#!/usr/bin/env bash
# Redaction on the host (inlined by host_scripts.load at "# @include"; the daily check's log samples and the service
# workflow's logs).

# redact_lines: stdin to stdout with what looks like a secret replaced by <redacted>, line by line: the rules of
# freshtrack_ops.redact.redact_log_line (URL user information, presigned-URL credential fields, private key blocks,
# Bearer tokens, Authorization: Basic, AWS access key ids, values of keys named *password / *passwd / *secret /
# *token / *api_key in key=value, key: value and JSON forms). GNU sed (-E, \b, the I flag). Defence in depth: the
# control plane redacts again with redact_log_line, but SSM keeps a command's output, so nothing leaves unredacted.
redact_lines() {
  local program
  # shellcheck disable=SC2016  # a sed program: the backticks and $ are sed's, not the shell's
  program='s!\b([A-Za-z][A-Za-z0-9+.-]{0,15}://)[^[:space:]/?#'"'"'"<>`]+@!\1<redacted>@!g
s!(X-Amz-(Signature|Credential|Security-Token)|Signature|AWSAccessKeyId)(=|%3D)[^&[:space:]'"'"'"<>`]*!\1\3<redacted>!Ig
s!-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----([^-]|-[^-])*(-----END [A-Z0-9 ]*PRIVATE KEY-----)?!<redacted private key>!g
s!\b(bearer)[[:space:]]+[A-Za-z0-9._~+/=-]+!\1 <redacted>!Ig
s!(authorization(\\?["'"'"'])?[[:space:]]*[:=][[:space:]]*(\\?["'"'"'])?[[:space:]]*basic)[[:space:]]+[A-Za-z0-9+/=]+!\1 <redacted>!Ig
s!\b(AKIA|ASIA)[A-Z0-9]{16}\b!<redacted>!g
s!(\b[A-Za-z0-9_.-]*(password|passwd|secret|token|api[_-]?key)(\\?["'"'"'])?[[:space:]]*[:=][[:space:]]*)\\"[^"]*\\"!\1\\"<redacted>\\"!Ig
s!(\b[A-Za-z0-9_.-]*(password|passwd|secret|token|api[_-]?key)(\\?["'"'"'])?[[:space:]]*[:=][[:space:]]*)"([^"\\]|\\.)*"!\1"<redacted>"!Ig
s!(\b[A-Za-z0-9_.-]*(password|passwd|secret|token|api[_-]?key)(\\?["'"'"'])?[[:space:]]*[:=][[:space:]]*)'"'"'[^'"'"']*'"'"'!\1'"'"'<redacted>'"'"'!Ig
s!(\b[A-Za-z0-9_.-]*(password|passwd|secret|token|api[_-]?key)(\\?["'"'"'])?[[:space:]]*[:=][[:space:]]*)[^][:space:]&,;"'"'"'\\)}]+!\1<redacted>!Ig'
  sed -E -e "$program"
}
