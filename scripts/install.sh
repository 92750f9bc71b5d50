#!/bin/bash
# install.sh -- install agentlaunch on a Debian 12 / Ubuntu 22.04+ server
# with systemd, as root: dependencies, build, binaries, configuration,
# audit key, system user, systemd units; enables and starts agentgw.
# Idempotent: a second run changes nothing and says so.  See --help and
# docs/deploy.md.
set -euo pipefail
umask 022

prog=install.sh
ARGS="$*"
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=/usr/local
BUILD_DIR=
START=1
DRY=
ACTION=install
PURGE=
TOKEN_ID=
SYSCONF=/etc/agentlaunch
LOGDIR=/var/log/agentlaunch
STATEDIR=/var/lib/agentlaunch
CACHEDIR=/var/cache/agentlaunch
MANIFEST=$STATEDIR/install.manifest
FRONT_USER=_agentgw
# Files under $SYSCONF are configuration: never overwritten once edited (a
# changed shipped version goes beside them as NAME.new); tokens.json is only
# ever created.

usage() {
	cat <<EOF
usage: $prog [--build-dir DIR] [--prefix DIR] [--no-start] [--dry-run]
       $prog --uninstall [--purge] [--prefix DIR] [--dry-run]
       $prog --add-token IDENTITY
Install agentlaunch on this Debian 12 / Ubuntu 22.04+ machine (root, systemd):
  - the Debian packages it needs (scripts/install-deps.sh install)
  - a build from $SRC (or the binaries in --build-dir DIR/bin)
  - binaries in PREFIX/bin, agentrun in PREFIX/libexec/agentlaunch (make install)
  - $SYSCONF/{policy.json,agentgw.env,tokens.json,agents/} (an edited file
    is never overwritten: the shipped version goes beside it as .new)
  - the audit key $LOGDIR/audit.jsonl.key (0600), the system user
    $FRONT_USER (the gateway's unprivileged front end), the units
    agentgw.service and agentlaunch@.service; enables and starts agentgw.
Options:
  --build-dir DIR  use the binaries already built in DIR/bin (make B=DIR)
  --prefix DIR     install prefix (default /usr/local)
  --no-start       install and enable, but do not start or restart agentgw
  --dry-run        print what would change, change nothing
  --uninstall      stop and remove everything this script installed; keeps
                   the policy and configuration in $SYSCONF and the audit
                   logs and key in $LOGDIR
  --purge          with --uninstall: remove those too
  --add-token ID   create a bearer token for identity ID: its sha256 goes to
                   $SYSCONF/tokens.json, the token to
                   $SYSCONF/tokens/ID.token (0600); restarts agentgw
EOF
}

say() { echo "$prog: $*"; }
warn() { echo "$prog: warning: $*" >&2; }
die() {
	echo "$prog: error: $*" >&2
	exit 1
}

while [ $# -gt 0 ]; do
	case "$1" in
	--build-dir) [ $# -ge 2 ] || die "--build-dir needs a directory"; BUILD_DIR=$2; shift 2 ;;
	--build-dir=*) BUILD_DIR=${1#*=}; shift ;;
	--prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; PREFIX=$2; shift 2 ;;
	--prefix=*) PREFIX=${1#*=}; shift ;;
	--no-start) START=; shift ;;
	--dry-run) DRY=1; shift ;;
	--uninstall) ACTION=uninstall; shift ;;
	--purge) PURGE=1; shift ;;
	--add-token) [ $# -ge 2 ] || die "--add-token needs an identity"; ACTION=token; TOKEN_ID=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument '$1'" ;;
	esac
done
[ -z "$PURGE" ] || [ "$ACTION" = uninstall ] || die "--purge goes with --uninstall"
case "$PREFIX" in /*) ;; *) die "--prefix must be an absolute path, got '$PREFIX'" ;; esac
PREFIX=${PREFIX%/}
[ -n "$PREFIX" ] || PREFIX=/
BINDIR=${PREFIX%/}/bin
LIBEXECDIR=${PREFIX%/}/libexec/agentlaunch
case "$PREFIX" in
/usr | /usr/local) UNITDIR=$PREFIX/lib/systemd/system ;;
*) UNITDIR=/etc/systemd/system ;; # systemd does not look under other prefixes
esac

# run CMD...: run it, or print it under --dry-run.
run() {
	if [ -n "$DRY" ]; then
		echo "  would run: $*"
	else
		"$@"
	fi
}

# ---- preconditions ---------------------------------------------------------
check_host() {
	if [ "$(id -u)" -ne 0 ]; then
		[ -n "$DRY" ] && [ "$ACTION" != token ] && { warn "not root: showing what would happen as far as it can be known"; return 0; }
		die "must run as root: sudo $0 $ARGS"
	fi
	[ "$(uname -s)" = Linux ] || die "Linux only"
	local id='' ver='' like=''
	if [ -r /etc/os-release ]; then
		id=$(. /etc/os-release && echo "${ID:-}")
		ver=$(. /etc/os-release && echo "${VERSION_ID:-}")
		like=$(. /etc/os-release && echo "${ID_LIKE:-}")
	fi
	local ok=
	case "$id" in
	debian) [ "${ver%%.*}" -ge 12 ] 2>/dev/null && ok=1 ;;
	ubuntu) [ "${ver%%.*}" -gt 22 ] 2>/dev/null || [ "$ver" = 22.04 ] || [ "$ver" = 22.10 ] && ok=1 ;;
	esac
	if [ -z "$ok" ] && [ "$ACTION" = install ]; then
		die "unsupported system '${id:-unknown} ${ver:-}'${like:+ (like $like)}: this installer supports Debian 12+ and Ubuntu 22.04+. On other systems build with 'make' and install with 'make install', then adapt deploy/*.service."
	fi
	if [ ! -d /run/systemd/system ]; then
		local init
		init=$(cat /proc/1/comm 2>/dev/null || echo unknown)
		if [ "$ACTION" = install ]; then
			die "systemd is not running (PID 1 is '$init'): this installer sets up systemd services. Without systemd use 'make install' and start agentgw yourself (see docs/deploy.md)."
		fi
		NOSYSTEMD=1
	fi
}
NOSYSTEMD=

# ---- manifest: what we installed, for upgrades and --uninstall ----------------
# Lines: "f PATH" file, "l PATH" symlink, "d PATH" directory we created,
# "c PATH SHA256" configuration file and the sha256 of the version we wrote,
# "u USER" system user we created, "k PATH" audit key we generated.
declare -A OLD_CONF=()
OLD_LINES=()
NEW_LINES=()
read_manifest() {
	[ -r "$MANIFEST" ] || return 0
	local t p h
	while read -r t p h; do
		[ -n "$t" ] || continue
		case "$t" in '#'*) continue ;; esac
		OLD_LINES+=("$t $p${h:+ $h}")
		if [ "$t" = c ]; then OLD_CONF[$p]=$h; fi
	done <"$MANIFEST"
	return 0
}
old_has() { # old_has TYPE PATH
	local l
	for l in "${OLD_LINES[@]+"${OLD_LINES[@]}"}"; do [ "$l" = "$1 $2" ] && return 0; done
	return 1
}
note() { NEW_LINES+=("$*"); }

CHANGES=0
RESTART=
RELOAD=
changed() { # changed WHAT MSG
	CHANGES=$((CHANGES + 1))
	say "$2"
	case "$1" in restart) RESTART=1 ;; reload) RELOAD=1 ;; esac
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# ---- install ------------------------------------------------------------------
install_deps() {
	if [ -n "$DRY" ]; then
		local p missing=
		for p in build-essential pkg-config libseccomp-dev libnl-3-dev libnl-route-3-dev \
			libcgroup-dev libjansson-dev libevent-dev libssl-dev check python3 procps curl; do
			dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
		done
		[ -z "$missing" ] || echo "  would install Debian packages:$missing"
		return 0
	fi
	local out
	if ! out=$("$SRC/scripts/install-deps.sh" install 2>&1); then
		echo "$out" >&2
		die "installing the Debian packages failed (above): check apt's sources and network"
	fi
	if [ -n "$out" ]; then
		echo "$out"
		changed none "installed the missing Debian packages"
	fi
}

build() {
	if [ -n "$BUILD_DIR" ]; then
		BUILD_DIR=$(realpath -e -- "$BUILD_DIR") || die "--build-dir $BUILD_DIR: no such directory"
		local b
		for b in agentgw agentlaunch agentrun; do
			[ -x "$BUILD_DIR/bin/$b" ] || die "--build-dir: $BUILD_DIR/bin/$b is missing: build with 'make B=$BUILD_DIR'"
		done
		say "using the binaries in $BUILD_DIR/bin"
		return 0
	fi
	BUILD_DIR=$CACHEDIR/build
	if [ -n "$DRY" ]; then
		echo "  would build from $SRC in $BUILD_DIR (make NODEPS=1 B=$BUILD_DIR)"
		return 0
	fi
	mkdir -p "$CACHEDIR"
	local log=$CACHEDIR/build.log
	say "building from $SRC in $BUILD_DIR (log: $log)"
	if ! make -C "$SRC" -j"$(nproc)" NODEPS=1 B="$BUILD_DIR" >"$log" 2>&1; then
		tail -n 25 "$log" >&2
		die "the build failed (end of $log above)"
	fi
}

STAGE=
cleanup() {
	[ -z "$STAGE" ] || rm -rf "$STAGE"
}
trap cleanup EXIT

stage() {
	STAGE=$(mktemp -d /tmp/agentlaunch-install.XXXXXX)
	if [ ! -x "$BUILD_DIR/bin/agentgw" ]; then
		[ -n "$DRY" ] && { echo "  (no build yet in $BUILD_DIR: the file list below is what make install would write)"; }
		[ -n "$DRY" ] || die "no agentgw in $BUILD_DIR/bin"
	fi
	local log=$STAGE.log
	if ! make -C "$SRC" install NOBUILD=1 NODEPS=1 B="$BUILD_DIR" PREFIX="$PREFIX" \
		UNITDIR="$UNITDIR" SYSCONFDIR="$SYSCONF" DESTDIR="$STAGE/root" >"$log" 2>&1; then
		if [ -n "$DRY" ] && [ ! -x "$BUILD_DIR/bin/agentgw" ]; then
			rm -f "$log"
			STAGE_OK=
			return 0
		fi
		cat "$log" >&2
		rm -f "$log"
		die "make install into a staging directory failed (above)"
	fi
	rm -f "$log"
	STAGE_OK=1
}
STAGE_OK=

# Is this path one of ours (its mode is ours to set)?
ours() { case "$1" in *agentlaunch*) return 0 ;; *) return 1 ;; esac; }

install_conffile() { # install_conffile STAGED TARGET
	local s=$1 t=$2 base hs ht rec
	base=$(basename "$t")
	hs=$(sha "$s")
	if [ "$base" = tokens.json ]; then
		if [ ! -e "$t" ]; then
			run install -m 0600 "$s" "$t"
			changed restart "created $t (no tokens yet: add one with $prog --add-token IDENTITY)"
		fi
		return 0
	fi
	if [ ! -e "$t" ]; then
		run install -m 0644 "$s" "$t"
		changed "$( [ "$base" = policy.json ] && echo reload || echo restart)" "installed $t"
		note "c $t $hs"
		return 0
	fi
	ht=$(sha "$t")
	rec=${OLD_CONF[$t]:-}
	if [ "$ht" = "$hs" ]; then
		note "c $t $hs"
		return 0
	fi
	if [ -n "$rec" ] && [ "$ht" = "$rec" ]; then
		# Unedited since we wrote it: take the new shipped version.
		run install -m 0644 "$s" "$t"
		changed "$( [ "$base" = policy.json ] && echo reload || echo restart)" "updated $t (it was not edited)"
		note "c $t $hs"
		return 0
	fi
	# Edited here (or there before us): keep it; the shipped version goes
	# beside it.  The record stays what we wrote (or the shipped version), so
	# the file still counts as edited next time.
	note "c $t ${rec:-$hs}"
	if [ -e "$t.new" ] && [ "$(sha "$t.new")" = "$hs" ]; then
		say "note: $t is edited here and kept; the shipped version is in $t.new"
		return 0
	fi
	run install -m 0644 "$s" "$t.new"
	changed none "$t is edited here: kept it, installed the shipped version as $t.new (compare: diff $t $t.new)"
}

sync_stage() {
	[ -n "$STAGE_OK" ] || return 0
	local root=$STAGE/root p rel mode t what
	while IFS= read -r -d '' p; do
		rel=${p#"$root"}
		if [ -L "$p" ]; then
			t=$(readlink "$p")
			note "l $rel"
			if [ "$(readlink "$rel" 2>/dev/null)" != "$t" ]; then
				run ln -sfn "$t" "$rel"
				changed restart "linked $rel -> $t"
			fi
		elif [ -d "$p" ]; then
			mode=$(stat -c %a "$p")
			if [ ! -d "$rel" ]; then
				run install -d -m "$mode" "$rel"
				changed none "created $rel/ ($mode)"
				note "d $rel"
			else
				old_has d "$rel" && note "d $rel"
				if ours "$rel" && [ "$(stat -c %a "$rel")" != "$mode" ]; then
					run chmod "$mode" "$rel"
					changed none "set mode $mode on $rel/"
				fi
			fi
		else
			mode=$(stat -c %a "$p")
			case "$rel" in
			"$SYSCONF"/*.dist | "$SYSCONF"/agents/*.sample) ;;
			"$SYSCONF"/*)
				install_conffile "$p" "$rel"
				continue
				;;
			esac
			note "f $rel"
			if [ -f "$rel" ] && [ ! -L "$rel" ] && cmp -s "$p" "$rel" && [ "$(stat -c %a "$rel")" = "$mode" ]; then
				continue
			fi
			case "$rel" in
			*/share/doc/* | "$SYSCONF"/*) what=none ;;
			*) what=restart ;;
			esac
			case "$rel" in "$UNITDIR"/*) UNITS_CHANGED=1 ;; esac
			run install -m "$mode" "$p" "$rel"
			changed $what "installed $rel"
		fi
	done < <(find "$root" -mindepth 1 -print0 | sort -z)
	# Files an earlier version installed that this one does not.
	local l typ path
	for l in "${OLD_LINES[@]+"${OLD_LINES[@]}"}"; do
		typ=${l%% *}
		path=${l#* }
		case "$typ" in f | l) ;; *) continue ;; esac
		[ -e "$root$path" ] || [ -L "$root$path" ] && continue
		if [ -e "$path" ] || [ -L "$path" ]; then
			run rm -f "$path"
			changed restart "removed $path (no longer installed)"
		fi
	done
}

ensure_user() {
	if getent passwd "$FRONT_USER" >/dev/null; then
		old_has u "$FRONT_USER" && note "u $FRONT_USER"
		return 0
	fi
	run useradd --system --user-group --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin --comment "agentgw unprivileged front end" "$FRONT_USER"
	changed restart "created system user $FRONT_USER (the gateway's network-facing front end runs as it)"
	note "u $FRONT_USER"
}

ensure_key() {
	local key=$LOGDIR/audit.jsonl.key log=$LOGDIR/audit.jsonl
	old_has k "$key" && note "k $key"
	if [ -e "$key" ]; then
		if [ "$(stat -c '%u %a' "$key")" != "0 600" ]; then
			run chown root:root "$key"
			run chmod 0600 "$key"
			changed restart "fixed owner and mode of $key (root, 0600)"
		fi
		return 0
	fi
	if [ -s "$log" ]; then
		die "$log has records but its key $key is missing: the gateway refuses to extend a log it cannot verify. Restore the key, or move the log away (mv $log $log.old) and run $prog again."
	fi
	if [ -n "$DRY" ]; then
		echo "  would generate the audit key $key (0600)"
	else
		install -d -m 0750 "$LOGDIR"
		(umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$key.tmp" && echo >>"$key.tmp")
		chmod 0600 "$key.tmp"
		mv "$key.tmp" "$key"
	fi
	changed restart "generated the audit key $key (0600, 32 random bytes as hex)"
	note "k $key"
}

write_manifest() {
	[ -z "$DRY" ] || return 0
	local tmp=$MANIFEST.tmp
	mkdir -p "$STATEDIR"
	printf '%s\n' "# agentlaunch install manifest (scripts/install.sh); prefix $PREFIX" \
		"${NEW_LINES[@]}" | sort -u >"$tmp"
	if [ -f "$MANIFEST" ] && cmp -s "$tmp" "$MANIFEST"; then
		rm -f "$tmp"
	else
		mv "$tmp" "$MANIFEST"
	fi
}

listen_addr() {
	local a
	a=$(sed -n 's/^AGENTGW_LISTEN=//p' "$SYSCONF/agentgw.env" 2>/dev/null | tail -1 | tr -d "\"'")
	echo "${a:-127.0.0.1:9999}"
}

healthz() { # healthz -> body on stdout
	local a
	a=$(listen_addr)
	case "$a" in
	unix:*) curl -fsS --max-time 2 --unix-socket "${a#unix:}" http://localhost/healthz ;;
	0.0.0.0:*) curl -fsS --max-time 2 "http://127.0.0.1:${a##*:}/healthz" ;;
	*) curl -fsS --max-time 2 "http://$a/healthz" ;;
	esac
}

services() {
	local unit=agentgw.service
	if [ -n "$UNITS_CHANGED" ]; then
		run systemctl daemon-reload
	fi
	if ! systemctl is-enabled --quiet "$unit" 2>/dev/null; then
		run systemctl enable --quiet "$unit"
		changed none "enabled $unit (starts at boot)"
	fi
	[ -n "$START" ] || { say "--no-start: not starting $unit"; return 0; }
	local msg
	if [ -z "$DRY" ] && ! msg=$("$BINDIR/agentgw" --check-policy --policy "$SYSCONF/policy.json" 2>&1 >/dev/null); then
		echo "$msg" >&2
		die "$SYSCONF/policy.json does not validate (above): fix it, then run $prog again"
	fi
	if ! systemctl is-active --quiet "$unit"; then
		run systemctl start "$unit" || { journalctl -u "$unit" -n 30 --no-pager >&2 || true; die "$unit did not start (its journal is above)"; }
		changed none "started $unit"
	elif [ -n "$RESTART" ]; then
		run systemctl restart "$unit" || { journalctl -u "$unit" -n 30 --no-pager >&2 || true; die "$unit did not restart (its journal is above)"; }
		say "restarted $unit (its files changed)"
	elif [ -n "$RELOAD" ]; then
		run systemctl reload "$unit"
		say "reloaded $unit (policy changed)"
	fi
	[ -z "$DRY" ] || return 0
	local i body=
	for i in $(seq 50); do
		body=$(healthz 2>/dev/null) && break
		body=
		systemctl is-active --quiet "$unit" || [ "$i" -lt 5 ] || break
		sleep 0.2
	done
	if [ -z "$body" ]; then
		journalctl -u "$unit" -n 30 --no-pager >&2 || true
		die "$unit does not answer /healthz on $(listen_addr) (its journal is above)"
	fi
	say "agentgw is up on $(listen_addr): $body"
}
UNITS_CHANGED=

do_install() {
	check_host
	read_manifest
	[ -n "$DRY" ] && say "dry run: nothing will be changed"
	install_deps
	build
	stage
	sync_stage
	ensure_user
	ensure_key
	write_manifest
	services
	if [ "$CHANGES" -eq 0 ]; then
		say "nothing to do: agentlaunch is installed and up to date (prefix $PREFIX)"
	elif [ -n "$DRY" ]; then
		say "dry run: $CHANGES change(s) would be made"
	else
		say "done: $CHANGES change(s). Policy $SYSCONF/policy.json (systemctl reload agentgw), tokens $SYSCONF/tokens.json ($prog --add-token ID), agents $SYSCONF/agents/NAME.conf (systemctl enable --now agentlaunch@NAME), audit $LOGDIR/audit.jsonl"
	fi
}

# ---- tokens ---------------------------------------------------------------------
do_token() {
	check_host
	case "$TOKEN_ID" in
	'' | . | .. | *[!A-Za-z0-9._-]*) die "identity '$TOKEN_ID': 1-64 characters of [A-Za-z0-9._-]" ;;
	esac
	[ ${#TOKEN_ID} -le 64 ] || die "identity '$TOKEN_ID' is longer than 64 characters"
	[ -f "$SYSCONF/tokens.json" ] || die "$SYSCONF/tokens.json is missing: run $prog first"
	local dir=$SYSCONF/tokens tok hash
	install -d -m 0700 "$dir"
	[ ! -e "$dir/$TOKEN_ID.token" ] || die "$dir/$TOKEN_ID.token exists: remove it (and its entry in tokens.json) first"
	tok=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
	hash=$(printf '%s' "$tok" | sha256sum | cut -d' ' -f1)
	/usr/bin/python3 - "$SYSCONF/tokens.json" "$TOKEN_ID" "$hash" <<'PY'
import json, os, sys
path, ident, h = sys.argv[1:]
with open(path) as f:
    d = json.load(f)
d.setdefault("tokens", []).append({"identity": ident, "sha256": h})
tmp = path + ".tmp"
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    json.dump(d, f, indent=2)
    f.write("\n")
os.replace(tmp, path)
PY
	(umask 077 && printf '%s\n' "$tok" >"$dir/$TOKEN_ID.token")
	say "token for identity $TOKEN_ID: $dir/$TOKEN_ID.token (send it as 'Authorization: Bearer TOKEN')"
	if [ -z "$NOSYSTEMD" ] && systemctl is-active --quiet agentgw.service; then
		systemctl restart agentgw.service
		say "restarted agentgw.service (tokens are read at start)"
	fi
}

# ---- uninstall -----------------------------------------------------------------
do_uninstall() {
	check_host
	read_manifest
	[ -n "$DRY" ] && say "dry run: nothing will be changed"
	local n=0 l typ path
	if [ -z "$NOSYSTEMD" ]; then
		local units
		units=$(systemctl list-units --all --plain --no-legend 'agentlaunch@*.service' 'agentgw.service' 2>/dev/null | awk '{print $1}')
		for u in $units; do
			run systemctl stop "$u" && say "stopped $u"
		done
		for u in $(find /etc/systemd/system -mindepth 2 -maxdepth 2 \( -name agentgw.service -o -name 'agentlaunch@*.service' \) -printf '%f\n' | sort -u); do
			run systemctl disable --quiet "$u" && say "disabled $u"
		done
	fi
	if [ ${#OLD_LINES[@]} -eq 0 ]; then
		warn "no manifest at $MANIFEST: removing the default file list for prefix $PREFIX"
		for path in "$PREFIX/bin/agentgw" "$PREFIX/bin/agentlaunch" "$PREFIX/bin/agentrun" \
			"$UNITDIR/agentgw.service" "$UNITDIR/agentlaunch@.service" \
			"$SYSCONF/default.json.dist" "$SYSCONF/agents/example.conf.sample"; do
			OLD_LINES+=("f $path")
		done
		OLD_LINES+=("d $LIBEXECDIR" "d ${PREFIX%/}/share/doc/agentlaunch")
		getent passwd "$FRONT_USER" >/dev/null && OLD_LINES+=("u $FRONT_USER")
	fi
	# files and links
	for l in "${OLD_LINES[@]}"; do
		typ=${l%% *}
		path=${l#* }
		case "$typ" in
		f | l)
			if [ -e "$path" ] || [ -L "$path" ]; then
				run rm -f "$path"
				n=$((n + 1))
			fi
			;;
		esac
	done
	# directories we created, deepest first, when empty (state, caches below)
	local dirs=()
	for l in "${OLD_LINES[@]}"; do
		[ "${l%% *}" = d ] && dirs+=("${l#* }")
	done
	local keep="$SYSCONF $LOGDIR $SYSCONF/agents $SYSCONF/tokens"
	if [ -n "$PURGE" ]; then
		for path in "$SYSCONF" "$LOGDIR"; do
			[ -e "$path" ] || continue
			run rm -rf --one-file-system "$path"
			say "purged $path"
		done
		keep=
	fi
	for path in "$STATEDIR" "$CACHEDIR" /run/agentlaunch; do
		[ -e "$path" ] || continue
		run rm -rf --one-file-system "$path"
		say "removed $path"
	done
	# empty parent cgroups the sandboxes used (agentlaunch/ in each v1 hierarchy)
	for path in /sys/fs/cgroup/*/agentlaunch /sys/fs/cgroup/agentlaunch; do
		[ -d "$path" ] && run rmdir "$path" 2>/dev/null || true
	done
	if [ ${#dirs[@]} -gt 0 ]; then
		for path in $(printf '%s\n' "${dirs[@]}" | sort -r); do
			case " $keep " in *" $path "*) continue ;; esac
			[ -d "$path" ] && run rmdir "$path" 2>/dev/null && n=$((n + 1))
		done
	fi
	for l in "${OLD_LINES[@]}"; do
		if [ "${l%% *}" = u ]; then
			path=${l#* }
			if getent passwd "$path" >/dev/null; then
				run userdel "$path"
				getent group "$path" >/dev/null && run groupdel "$path" 2>/dev/null || true
				say "removed system user $path"
			fi
		fi
	done
	[ -n "$NOSYSTEMD" ] || run systemctl daemon-reload
	say "removed $n installed files and directories"
	if [ -z "$PURGE" ]; then
		local kept=
		[ -d "$SYSCONF" ] && kept="$SYSCONF (policy, configuration, tokens)"
		[ -d "$LOGDIR" ] && kept="${kept:+$kept, }$LOGDIR (audit logs and key)"
		[ -z "$kept" ] || say "kept $kept: remove them with --uninstall --purge"
	fi
}

case "$ACTION" in
install) do_install ;;
uninstall) do_uninstall ;;
token) do_token ;;
esac
