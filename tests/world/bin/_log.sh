# Sourced by the test doubles: append this invocation to $VOCAVISION_FAKE_LOG, shell-quoted.
vv_log() {
  [ -n "${VOCAVISION_FAKE_LOG:-}" ] || return 0
  { printf '%s' "$(basename "$0")"; printf ' %q' "$@"; printf '\n'; } >> "$VOCAVISION_FAKE_LOG"
}
