#!/usr/bin/env bash
# vgpu-admin acceptance test for a real XCP-ng dom0 (never run by CI; see tests/host/README.md).
#
#   tests/host/acceptance.sh <uuid of a throw-away VM>
#
# Walks the whole chain once with that VM, against a temporary database (--db), so the host's
# own /etc/vgpu/vgpu_config.db is never changed:
#   register -> args in xapi -> start -> QEMU command line carries the device -> hook log line
#   -> set-pool A->B->A (--yes, restarts the VM) -> remove
# and puts everything back at the end (trap): the VM's platform:<key> value, its power state,
# the temporary hook, the temporary files. It prints a report to send back (also saved in
# /tmp/vgpu-acceptance-<host>-<time>.txt). Exit 0 when every step passed, 1 otherwise, 2 for a
# wrong invocation or a host it must not run on.
#
# Environment (all optional):
#   VGPU_ADMIN        the program under test (default: /usr/local/bin/vgpu-admin, else on PATH)
#   PLATFORM_KEY      the platform key QEMU reads (default device-model-args)
#   TEST_VM_ID        the vm_id to use (default: 2147483000, or the next free one above it)
#   START_TIMEOUT     seconds for one xe vm-start/vm-shutdown (default 300)
#   SHUTDOWN_TIMEOUT  --shutdown-timeout for set-pool (default 120; a hard shutdown follows)
#   XAPI_HOOK_DIR     the vm-pre-start hook directory (default /etc/xapi.d/vm-pre-start)
#   PROC_ROOT         where to look for the QEMU process (default /proc)
#   XAPI_INVENTORY    the file naming this host (default /etc/xensource-inventory)
#
# Works with the bash of XCP-ng 8.2/8.3 dom0 (bash 4.2): no newer bash features.
set -u

PROG=${0##*/}
VM=${1:-}
if [[ -z $VM || $VM == -h || $VM == --help ]]; then
  echo "usage: $PROG <uuid of a throw-away VM>   (run as root on the XCP-ng dom0)" >&2
  exit 2
fi
VM=$(printf '%s' "$VM" | tr 'A-F' 'a-f')

KEY=${PLATFORM_KEY:-device-model-args}
START_TIMEOUT=${START_TIMEOUT:-300}
SHUTDOWN_TIMEOUT=${SHUTDOWN_TIMEOUT:-120}
HOOK_DIR=${XAPI_HOOK_DIR:-/etc/xapi.d/vm-pre-start}
PROC=${PROC_ROOT:-/proc}
INVENTORY=${XAPI_INVENTORY:-/etc/xensource-inventory}
if [[ -n ${VGPU_ADMIN:-} ]]; then
  ADMIN=$VGPU_ADMIN
elif [[ -x /usr/local/bin/vgpu-admin ]]; then
  ADMIN=/usr/local/bin/vgpu-admin
else
  ADMIN=$(command -v vgpu-admin 2>/dev/null || true)
fi

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
WORK=$(mktemp -d /tmp/vgpu-acceptance.XXXXXX) || exit 2
DB=$WORK/vgpu_config.db
LOG=$WORK/vgpu-vm-startup.log
TMP_HOOK=$HOOK_DIR/11-vgpu-admin-acceptance
REPORT_LINES=()
FAILED=0
PASSED=0
SKIP_REST=""

# ---- the report ------------------------------------------------------------------------------

say() { REPORT_LINES+=("$*"); printf '%s\n' "$*"; }
evidence() {
  # Indented evidence lines, at most 20 of them.
  local n=0 line
  while IFS= read -r line; do
    n=$((n + 1))
    if ((n > 20)); then say "      … (more lines cut)"; break; fi
    say "      $line"
  done <<<"$1"
}
result() {
  # result PASS|FAIL|SKIP|INFO "<step>" "<evidence>"
  local status=$1 name=$2 ev=${3:-}
  case "$status" in
    PASS) PASSED=$((PASSED + 1)) ;;
    FAIL) FAILED=$((FAILED + 1)) ;;
  esac
  say "$(printf '%-4s  %s' "$status" "$name")"
  [[ -n $ev ]] && evidence "$ev"
  return 0
}
# Runs a step function unless an earlier step failed; a failed step skips every later one.
step() {
  local name=$1
  shift
  if [[ -n $SKIP_REST ]]; then
    result SKIP "$name" "not run: '$SKIP_REST' failed"
    return 0
  fi
  if ! "$@"; then SKIP_REST=$name; fi
}

# ---- helpers ---------------------------------------------------------------------------------

xe_() { timeout "$START_TIMEOUT" xe "$@" 2>&1; }
admin() { timeout 600 "$ADMIN" --db="$DB" "$@" 2>&1; }
power() { xe_ vm-param-get uuid="$VM" param-name=power-state; }
args_now() {
  # The VM's platform:<key>, or the word <absent>.
  local out
  if out=$(xe vm-param-get uuid="$VM" param-name=platform param-key="$KEY" 2>&1); then
    printf '%s' "$out"
  else
    printf '<absent>'
  fi
}
device() { printf -- '-device vgpu-stub,pool_id=%s,priority=high,vm_id=%s' "$1" "$TEST_ID"; }

# The command line of the QEMU serving the VM's domain: the process whose cmdline holds
# "-xen-domid <domid>" (NUL-separated in /proc/<pid>/cmdline). Prints "pid<TAB>argv as words".
qemu_cmdline() {
  local domid=$1 d pid words
  for d in "$PROC"/[0-9]*; do
    pid=${d##*/}
    [[ -r $d/cmdline ]] || continue
    words=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null) || continue
    case " $words " in
      *" -xen-domid $domid "*) printf '%s\t%s\n' "$pid" "$words"; return 0 ;;
    esac
  done
  return 1
}

# The QEMU check shared by "start" and the set-pool round trip: expects $1 (a device string).
check_qemu() {
  local want=$1 domid found pid words dev
  domid=$(xe_ vm-param-get uuid="$VM" param-name=dom-id)
  if ! found=$(qemu_cmdline "$domid"); then
    QEMU_EVIDENCE="dom-id $domid; no process with -xen-domid $domid under $PROC"
    return 1
  fi
  pid=${found%%$'\t'*}
  words=${found#*$'\t'}
  dev=$(printf '%s\n' "$words" | tr ' ' '\n' | grep -n 'vgpu-stub' || true)
  QEMU_EVIDENCE="dom-id $domid; pid $pid; argv[0] ${words%% *}
vgpu-stub on its command line: ${dev:-(none)}
wanted: $want"
  [[ " $words " == *" $want "* ]]
}

# The newest line of the temporary hook log for the VM.
last_hook_line() { grep "vm=$VM " "$LOG" 2>/dev/null | tail -n 1; }

# ---- restoring everything (runs on every exit) -----------------------------------------------

ORIG_STATE=""
ORIG_ARGS=""
ORIG_HAD_KEY=""
cleanup() {
  local rc=$? out
  trap - EXIT INT TERM HUP
  say ""
  say "Restoring the VM and the host:"
  rm -f "$TMP_HOOK" && say "  removed the temporary hook $TMP_HOOK"
  if [[ -n $ORIG_STATE ]]; then
    local now
    now=$(power)
    if [[ $now == running && $ORIG_STATE != running ]]; then
      out=$(xe_ vm-shutdown uuid="$VM" force=true) || say "  could not shut the VM down: $out"
      say "  shut the VM down (it was $ORIG_STATE before)"
    fi
    if [[ $ORIG_HAD_KEY == yes ]]; then
      out=$(xe_ vm-param-set uuid="$VM" platform:"$KEY"="$ORIG_ARGS") ||
        say "  COULD NOT RESTORE platform:$KEY: $out"
    else
      xe vm-param-remove uuid="$VM" param-name=platform param-key="$KEY" >/dev/null 2>&1 || true
    fi
    say "  platform:$KEY is again: $(args_now)"
    if [[ $ORIG_STATE == running && $(power) != running ]]; then
      out=$(xe_ vm-start uuid="$VM" on="$HOST_UUID") || say "  could not start the VM again: $out"
      say "  started the VM again (it was running before)"
    fi
    say "  power state: $(power) (was $ORIG_STATE)"
  fi
  rm -rf "$WORK" && say "  removed $WORK (temporary database and hook log)"
  say ""
  if ((FAILED == 0 && rc == 0 && PASSED > 0)); then
    say "RESULT: PASS ($PASSED steps passed)"
  else
    say "RESULT: FAIL ($PASSED passed, $FAILED failed)"
    ((rc == 0)) && rc=1
  fi
  local file=/tmp/vgpu-acceptance-$(hostname -s 2>/dev/null || echo host)-$STAMP.txt
  printf '%s\n' "${REPORT_LINES[@]}" >"$file" 2>/dev/null &&
    printf 'Report saved to %s: please send it back.\n' "$file"
  exit "$rc"
}

# ---- preflight -------------------------------------------------------------------------------

preflight_fail() {
  say "PREFLIGHT FAILED: $*"
  rm -rf "$WORK"
  exit 2
}

say "vgpu-admin acceptance test, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
say ""
if [[ $(id -u) != 0 ]]; then preflight_fail "run as root on the XCP-ng dom0"; fi
command -v xe >/dev/null 2>&1 || preflight_fail "xe not found: run this on the XCP-ng dom0"
[[ -n $ADMIN && -x $ADMIN ]] || preflight_fail "vgpu-admin not found: install it or set VGPU_ADMIN"
[[ $VM =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]] ||
  preflight_fail "not a VM uuid: $VM"

HOST_UUID=""
inventory() { sed -n "s/^$1=['\"]\{0,1\}\([^'\"]*\).*/\1/p" "$INVENTORY"; }
if [[ -r $INVENTORY ]]; then
  HOST_UUID=$(inventory INSTALLATION_UUID)
  PRODUCT=$(inventory PRODUCT_BRAND)
  PRODUCT_VERSION=$(inventory PRODUCT_VERSION)
  BUILD=$(inventory BUILD_NUMBER)
fi
[[ -n $HOST_UUID ]] || preflight_fail "cannot read this host's uuid (INSTALLATION_UUID) from $INVENTORY"
say "Host:        $(hostname 2>/dev/null) ($HOST_UUID)"
say "XCP-ng:      ${PRODUCT:-?} ${PRODUCT_VERSION:-?} build ${BUILD:-?}; $(cat /etc/xcp-ng-release 2>/dev/null || cat /etc/redhat-release 2>/dev/null || echo 'release file not found')"
say "Kernel:      $(uname -r)"
say "xe:          $(command -v xe) ($(rpm -qf "$(command -v xe)" 2>/dev/null || echo 'package unknown'))"
say "xapi:        $(rpm -q xapi-core 2>/dev/null || rpm -qa 'xapi*' 2>/dev/null | head -n 1 || echo unknown)"
say "qemu:        $(rpm -q qemu 2>/dev/null || echo 'package qemu not found')"
say "vgpu-admin:  $ADMIN, version $("$ADMIN" --version 2>&1)"
say "Platform key: $KEY"

name=$(xe vm-param-get uuid="$VM" param-name=name-label 2>&1) ||
  preflight_fail "xe knows no VM $VM: $name"
[[ $(xe vm-param-get uuid="$VM" param-name=is-control-domain 2>&1) == false ]] ||
  preflight_fail "$VM is the control domain"
[[ $(xe vm-param-get uuid="$VM" param-name=is-a-template 2>&1) == false ]] ||
  preflight_fail "$VM is a template"
ORIG_STATE_NOW=$(power)
case "$ORIG_STATE_NOW" in
  halted | running) ;;
  *) preflight_fail "VM $VM is $ORIG_STATE_NOW: halt it (or start it) first" ;;
esac
say "Test VM:     $VM ($name), $ORIG_STATE_NOW"

# The host's own configuration must not interfere: the VM must not be registered there, and
# our vm_id must be free there (the installed hook sees the VM as unregistered, carrying that
# id, and would warn, or in strict mode refuse the start, if a registered VM held it).
REAL_DB=/etc/vgpu/vgpu_config.db
TEST_ID=${TEST_VM_ID:-2147483000}
if [[ -f $REAL_DB ]]; then
  used=$(timeout 60 "$ADMIN" --db="$REAL_DB" list-vms --format=json 2>&1) ||
    preflight_fail "cannot read $REAL_DB: $used"
  if grep -q "\"vm_uuid\": \"$VM\"" <<<"$used"; then
    preflight_fail "VM $VM is registered in $REAL_DB: use a throw-away VM that is not"
  fi
  while grep -q "\"vm_id\": $TEST_ID," <<<"$used"; do TEST_ID=$((TEST_ID + 1)); done
  say "Host database: $REAL_DB exists; the test VM is not registered there; vm_id $TEST_ID is free"
else
  say "Host database: $REAL_DB does not exist (left alone)"
fi
if [[ -f $HOOK_DIR/10-vgpu-admin ]]; then
  say "Installed hook: $HOOK_DIR/10-vgpu-admin (it sees the test VM as unregistered)"
else
  say "Installed hook: none at $HOOK_DIR/10-vgpu-admin"
fi
[[ -d $HOOK_DIR ]] || preflight_fail "$HOOK_DIR does not exist: is this an XCP-ng dom0?"

if ORIG_ARGS=$(xe vm-param-get uuid="$VM" param-name=platform param-key="$KEY" 2>/dev/null); then
  ORIG_HAD_KEY=yes
else
  ORIG_HAD_KEY=no
  ORIG_ARGS=""
fi
ORIG_STATE=$ORIG_STATE_NOW
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
say "Original platform:$KEY: $([[ $ORIG_HAD_KEY == yes ]] && printf '%s' "$ORIG_ARGS" || printf '<absent>')"

# A temporary hook that runs vgpu-admin's start check for the test VM only, against the
# temporary database and log. It exits 0 or 1 only (never stops a start), like the real one.
cat >"$TMP_HOOK" <<EOF
#!/bin/sh
# Temporary: written and removed by vgpu-admin's tests/host/acceptance.sh.
uuid=""
while [ "\$#" -gt 0 ]; do
  case "\$1" in
    -vmuuid) [ "\$#" -ge 2 ] || break; uuid=\$2; shift 2 ;;
    *) shift ;;
  esac
done
[ "\$uuid" = "$VM" ] || exit 0
VGPU_LOG="$LOG" timeout -s KILL 20 "$ADMIN" startup-hook --vm-uuid="\$uuid" --reason=none --db="$DB" </dev/null
[ "\$?" -eq 0 ] && exit 0
exit 1
EOF
chmod 0755 "$TMP_HOOK"
say "Temporary hook: $TMP_HOOK (database $DB, log $LOG)"
say ""
say "Steps:"

# ---- the steps -------------------------------------------------------------------------------

s_halt_first() {
  # The chain starts from a halted VM: its QEMU must be started after registration.
  [[ $(power) == halted ]] && { result PASS "0. the VM is halted" "power state: halted"; return 0; }
  local out
  out=$(xe_ vm-shutdown uuid="$VM") || out="$out
$(xe_ vm-shutdown uuid="$VM" force=true)"
  if [[ $(power) == halted ]]; then
    result PASS "0. shut the VM down for the test" "$out"
  else
    result FAIL "0. shut the VM down for the test" "power state: $(power); $out"
    return 1
  fi
}

s_register() {
  local out
  if [[ $KEY != device-model-args ]] && ! out=$(admin settings platform-key "$KEY"); then
    result FAIL "1. settings platform-key $KEY (temporary database)" "$out"
    return 1
  fi
  if out=$(admin register-vm --vm-uuid="$VM" --pool=A --priority=high --vm-id="$TEST_ID"); then
    result PASS "1. register-vm (temporary database)" "$out"
  else
    result FAIL "1. register-vm (temporary database)" "$out"
    return 1
  fi
}

s_args() {
  local now want
  now=$(args_now)
  want=$(device A)
  if [[ " $now " == *" $want "* ]]; then
    result PASS "2. the args are in xapi (xe vm-param-get ... param-key=$KEY)" "$now"
  else
    result FAIL "2. the args are in xapi (xe vm-param-get ... param-key=$KEY)" "got:  $now
want: $want"
    return 1
  fi
}

s_check() {
  local out
  if out=$(admin sync --check); then
    result PASS "3. sync --check: database and xapi agree" "$out"
  else
    result FAIL "3. sync --check: database and xapi agree" "$out"
    return 1
  fi
}

s_start() {
  local out
  if out=$(xe_ vm-start uuid="$VM" on="$HOST_UUID") && [[ $(power) == running ]]; then
    result PASS "4. xe vm-start" "power state: running${out:+; $out}"
  else
    result FAIL "4. xe vm-start" "power state: $(power); $out"
    return 1
  fi
}

QEMU_EVIDENCE=""
s_qemu() {
  local want=$1 label=$2
  # QEMU may still be starting: look for up to 30 s.
  local i
  for i in 1 2 3 4 5 6 7 8 9 10; do
    check_qemu "$want" && { result PASS "$label" "$QEMU_EVIDENCE"; return 0; }
    sleep 3
  done
  result FAIL "$label" "$QEMU_EVIDENCE"
  return 1
}

s_hook() {
  local line
  line=$(last_hook_line)
  if [[ $line == *"action=in-sync result=ok"* ]]; then
    result PASS "6. the start hook logged the start (in sync)" "$line"
  else
    result FAIL "6. the start hook logged the start (in sync)" "${line:-no line for the VM in $LOG}"
    return 1
  fi
}

s_set_pool() {
  local pool=$1 label=$2 out now want
  want=$(device "$pool")
  if ! out=$(admin set-pool --vm-uuid="$VM" --pool="$pool" --yes \
    --shutdown-timeout="$SHUTDOWN_TIMEOUT" --force-shutdown); then
    result FAIL "$label" "$out"
    return 1
  fi
  now=$(args_now)
  if [[ " $now " != *" $want "* || $(power) != running ]]; then
    result FAIL "$label" "$out
xapi: $now; power state: $(power)"
    return 1
  fi
  if ! check_qemu "$want"; then
    sleep 10
    if ! check_qemu "$want"; then
      result FAIL "$label" "$out
$QEMU_EVIDENCE"
      return 1
    fi
  fi
  local line
  line=$(last_hook_line)
  if [[ $line != *"action=in-sync result=ok"* ]]; then
    result FAIL "$label" "$out
hook log: ${line:-none}"
    return 1
  fi
  result PASS "$label" "$(printf '%s\n' "$out" | tail -n 3)
xapi: $now
$QEMU_EVIDENCE
hook log: $line"
}

s_remove() {
  local out now
  if ! out=$(admin remove-vm --vm-uuid="$VM" --yes); then
    result FAIL "9. remove-vm" "$out"
    return 1
  fi
  now=$(args_now)
  if [[ $now == *vgpu-stub* ]]; then
    result FAIL "9. remove-vm" "$out
xapi still holds: $now"
    return 1
  fi
  result PASS "9. remove-vm: our device is gone from xapi" "$out
xapi: $now"
}

step "0. halted" s_halt_first
step "1. register" s_register
step "2. args in xapi" s_args
step "3. sync --check" s_check
step "4. start" s_start
step "5. QEMU" s_qemu "$(device A)" "5. the QEMU command line carries the device ($PROC/<pid>/cmdline, -xen-domid)"
step "6. hook log" s_hook
step "7. set-pool B" s_set_pool B "7. set-pool --pool=B --yes: restarted, xapi, QEMU and hook agree"
step "8. set-pool A" s_set_pool A "8. set-pool --pool=A --yes: back again"
step "9. remove" s_remove

if [[ -z $SKIP_REST ]]; then
  result INFO "hook log of the test (temporary)" "$(cat "$LOG" 2>/dev/null)"
  if [[ -r /var/log/vgpu-vm-startup.log ]]; then
    result INFO "the installed hook's log for the test VM" \
      "$(grep "vm=$VM " /var/log/vgpu-vm-startup.log | tail -n 5)"
  fi
fi
exit 0
