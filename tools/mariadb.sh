#!/usr/bin/env bash
# A private MariaDB server for development and tests; never the system instance.
#
# Owns everything under DIR (default <repo>/var/mariadb) and nothing else:
#   DIR/data/        the data directory (mariadb-install-db on first start)
#   DIR/mysqld.sock  the only way in: unix socket, no TCP (--skip-networking)
#   DIR/tmp/         the server's tmpdir
#   DIR/mysqld.pid   DIR/error.log   DIR/install.log   DIR/stdout.log
#   DIR/password     the password of user `boxoffice` (generated once, mode 0600)
#   DIR/client.cnf   options for the mariadb CLI as that user (mode 0600):
#                      mariadb --defaults-file=DIR/client.cnf boxoffice
#   DIR/.lock        serializes start/stop/kill on the same DIR
# Reads no option file (/etc/mysql, ~/.my.cnf): every server and client call is --no-defaults or
# --defaults-file=DIR/client.cnf, so it never talks to, nor depends on, the distro's service.
# Servers in different DIRs run side by side; tests start theirs under a temp dir.
#
# Usage: tools/mariadb.sh start|stop|kill|status|url|sql [STATEMENT] [--dir DIR]
#   start   initialise DIR on first use, start the server if it is not running, make sure database
#           and user `boxoffice` exist, print the URL on stdout:
#             mariadb://boxoffice:<password>@localhost/boxoffice?socket=<DIR>/mysqld.sock
#   stop    clean shutdown (the SHUTDOWN statement, else SIGTERM), bounded wait
#   kill    kill -9 the server (fault tests; InnoDB recovers on the next start)
#   status  exit 0 if the server runs and answers, 1 otherwise
#   url     print the URL (DIR must have been started once)
#   sql     run STATEMENT (or stdin if none) as user boxoffice on database boxoffice; -N -B output
# The server administrator is the current unix user through the unix_socket plugin:
#   mariadb --no-defaults --socket=DIR/mysqld.sock -u "$(id -un)"
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ready_timeout_s=60
stop_timeout_s=60

die() { echo "mariadb.sh: $*" >&2; exit 1; }
usage() { die "usage: tools/mariadb.sh start|stop|kill|status|url|sql [STATEMENT] [--dir DIR]"; }

command=${1:-}
[[ -n $command ]] || usage
shift
dir=$repo/var/mariadb
statement=
have_statement=0
while (($#)); do
  case $1 in
    --dir) (($# >= 2)) || usage; dir=$2; shift 2 ;;
    --dir=*) dir=${1#--dir=}; shift ;;
    *) [[ $command == sql && $have_statement == 0 ]] || usage
       statement=$1; have_statement=1; shift ;;
  esac
done

dir=$(realpath -m -- "$dir")
# The URL carries DIR unescaped, so keep DIR to characters that need no escaping.
[[ $dir =~ ^[A-Za-z0-9._/~-]+$ ]] || die "DIR '$dir' may only hold [A-Za-z0-9._/~-]"
data_dir=$dir/data
socket=$dir/mysqld.sock
pid_file=$dir/mysqld.pid
error_log=$dir/error.log
password_file=$dir/password
client_cnf=$dir/client.cnf
# sun_path is 108 bytes including the terminating NUL.
((${#socket} <= 107)) ||
  die "socket path $socket is ${#socket} bytes; unix sockets allow 107. Use a shorter --dir"

admin_user=$(id -un)
run_as=()
# mariadbd refuses to run as root unless told so explicitly.
if (($(id -u) == 0)); then run_as=(--user=root); fi

# Sized for a small machine; durable: every commit is on disk before it is acknowledged.
server_options=(
  # Temporary tables and files stay under DIR: with a shared /tmp, two mariadb-install-db runs
  # at once failed now and then ("Could not remove temporary table '/tmp/#sql-temptable-...'").
  --tmpdir="$dir/tmp"
  --innodb-buffer-pool-size=256M
  --innodb-log-file-size=256M
  --innodb-flush-log-at-trx-commit=1
  --skip-name-resolve
  # Without an option file the compiled-in default would be latin1.
  --character-set-server=utf8mb4
  --collation-server=utf8mb4_unicode_ci
)

admin_sql() {  # SQL on stdin; options in $@
  mariadb --no-defaults --socket="$socket" -u "$admin_user" --default-character-set=utf8mb4 "$@"
}

# The pid of our server, if it runs: the pid file names a live mariadbd whose working directory is
# our data dir (mariadbd chdirs there). A stale pid file, a reused pid or a zombie do not match.
server_pid() {
  local pid
  [[ -r $pid_file ]] || return 1
  pid=$(<"$pid_file") || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == mariadbd ]] || return 1
  [[ $(readlink "/proc/$pid/cwd" 2>/dev/null) == "$data_dir" ]] || return 1
  echo "$pid"
}

answers() {
  mariadb-admin --no-defaults --socket="$socket" -u "$admin_user" --connect-timeout=2 ping \
    >/dev/null 2>&1
}

print_url() {
  [[ -r $password_file ]] || die "$dir was never started; run: tools/mariadb.sh start --dir $dir"
  echo "mariadb://boxoffice:$(<"$password_file")@localhost/boxoffice?socket=$socket"
}

lock() {
  [[ $command == start ]] || [[ -d $dir ]] || { echo "mariadb.sh: not running ($dir)" >&2; exit 0; }
  mkdir -p "$dir"
  exec 9>"$dir/.lock"
  flock -w $((ready_timeout_s + stop_timeout_s)) 9 || die "$dir/.lock is held by another mariadb.sh"
}

initialise() {
  local started_s=$SECONDS
  rm -rf "$data_dir"
  mkdir -p "$dir/tmp"
  if ! mariadb-install-db --no-defaults --datadir="$data_dir" "${run_as[@]}" \
      --auth-root-authentication-method=socket --auth-root-socket-user="$admin_user" \
      --skip-test-db --skip-name-resolve "${server_options[@]}" >"$dir/install.log" 2>&1; then
    grep -E 'ERROR|Error|error' "$dir/install.log" >&2 || tail -n 30 "$dir/install.log" >&2
    rm -rf "$data_dir"
    die "mariadb-install-db failed (log: $dir/install.log)"
  fi
  echo "mariadb.sh: initialised $data_dir in $((SECONDS - started_s)) s" >&2
}

ensure_password() {
  [[ -s $password_file ]] && return
  (umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$password_file.new")
  mv "$password_file.new" "$password_file"
}

write_client_cnf() {
  # The client's character set would otherwise follow the locale (latin1 under LC_ALL=C).
  (umask 077 && printf '[client]\nuser=%s\npassword=%s\nsocket=%s\ndefault-character-set=%s\n' \
    boxoffice "$(<"$password_file")" "$socket" utf8mb4 >"$client_cnf.new")
  mv "$client_cnf.new" "$client_cnf"
}

launch() {
  # setsid: the server outlives this script and the caller's terminal; every inherited descriptor
  # is closed or redirected, so a caller reading our stdout (a test harness) is not kept waiting
  # by the server, and the lock on fd 9 is released when this script exits.
  setsid mariadbd --no-defaults --datadir="$data_dir" "${run_as[@]}" \
    --socket="$socket" --skip-networking --pid-file="$pid_file" --log-error="$error_log" \
    "${server_options[@]}" </dev/null >>"$dir/stdout.log" 2>&1 9>&- &
  local launcher_pid=$! deadline_s=$((SECONDS + ready_timeout_s))
  until answers; do
    if ! kill -0 "$launcher_pid" 2>/dev/null; then
      tail -n 30 "$error_log" >&2 || true
      die "mariadbd exited during start-up (log: $error_log)"
    fi
    if ((SECONDS >= deadline_s)); then
      tail -n 30 "$error_log" >&2 || true
      die "mariadbd did not answer within $ready_timeout_s s (log: $error_log)"
    fi
    sleep 0.1
  done
}

create_database_and_user() {
  local password
  password=$(<"$password_file")
  admin_sql <<SQL
CREATE DATABASE IF NOT EXISTS boxoffice CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'boxoffice'@'localhost' IDENTIFIED BY '$password';
ALTER USER 'boxoffice'@'localhost' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON boxoffice.* TO 'boxoffice'@'localhost';
SQL
}

# Waits until process $1 has exited (a zombie counts as exited: it has no working directory
# any more); the pid file alone is not enough, it goes before the process does.
wait_gone() {  # $1 = pid, $2 = seconds
  local deadline_s=$((SECONDS + $2))
  while readlink "/proc/$1/cwd" >/dev/null 2>&1; do
    ((SECONDS < deadline_s)) || return 1
    sleep 0.1
  done
}

case $command in
  start)
    lock
    if ! server_pid >/dev/null; then
      command -v mariadbd >/dev/null || die "mariadbd not found; run tools/install-deps.sh"
      [[ -d $data_dir/mysql ]] || initialise
      mkdir -p "$dir/tmp"
      ensure_password
      write_client_cnf
      started_s=$SECONDS
      launch
      create_database_and_user
      echo "mariadb.sh: pid $(server_pid) answering on $socket after $((SECONDS - started_s)) s" >&2
    fi
    print_url
    ;;
  stop)
    lock
    pid=$(server_pid) || { echo "mariadb.sh: not running ($dir)" >&2; exit 0; }
    # The SHUTDOWN statement is what `mariadb-admin shutdown` sends, but mariadb-admin then polls
    # the pid file once a second; wait_gone polls every 0.1 s. If the server does not take the
    # statement (hung, or the admin login broke), SIGTERM is the same clean shutdown.
    if ! echo "SHUTDOWN" | admin_sql --connect-timeout=5 >/dev/null 2>&1; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
    if ! wait_gone "$pid" "$stop_timeout_s"; then
      tail -n 30 "$error_log" >&2 || true
      kill -KILL "$pid" 2>/dev/null || true
      die "pid $pid did not shut down within $stop_timeout_s s; killed it (log: $error_log)"
    fi
    ;;
  kill)
    lock
    pid=$(server_pid) || { echo "mariadb.sh: not running ($dir)" >&2; exit 0; }
    kill -KILL "$pid"
    wait_gone "$pid" 10 || die "pid $pid survived kill -9"
    ;;
  status)
    server_pid >/dev/null && answers
    ;;
  url)
    print_url
    ;;
  sql)
    [[ -r $client_cnf ]] || die "$dir was never started; run: tools/mariadb.sh start --dir $dir"
    if ((have_statement)); then
      exec mariadb --defaults-file="$client_cnf" -N -B boxoffice -e "$statement"
    fi
    exec mariadb --defaults-file="$client_cnf" -N -B boxoffice
    ;;
  *)
    usage
    ;;
esac
