#!/usr/bin/python3
"""py_agent — the Python mock agent (tests/mock_agent/README.md).

Behaves like an agent written in Python: it tries the ways out a Python
program has (subprocess, os.system, os.fork, os.posix_spawn, multiprocessing,
os.execv, execve through ctypes, sockets to other hosts and host ports,
secrets on disk) and checks what it needs: threads, files, the allowed
service, and the gateway (/v1/run, /v1/exec with AGENTGW_TOKEN, and policy
denials as 403 with the rule id).

One line per check, the same format as c_agent:
    VERDICT LAYER KIND NAME DETAIL     (VERDICT judged for a confined run)
then "py_agent: N passed, N failed, N skipped"; exit 1 when a check failed.
Lines starting with "# attempt" tell run.sh which exec/fork attempts the
audit log must show.  Standard library only; run with /usr/bin/python3.

An exec that works (bare) replaces this process: the exec checks exec this
script again with --resume INDEX --tally P,F,S and the new process reports
the escape and carries on with the next check.
"""
import ctypes
import errno
import http.client
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

PASS = FAIL = SKIP = 0
OPEN, BLOCKED, SKIPPED = "open", "blocked", "skip"
SELF = os.path.abspath(__file__)
TALLY = [0, 0, 0]


class Skip(Exception):
    pass


def env(k):
    v = os.environ.get(k, "")
    if not v:
        raise Skip(f"{k} not set (run through tests/mock_agent/run.sh)")
    return v


def ename(e):
    return errno.errorcode.get(e, f"E{e}") if isinstance(e, int) else str(e)


def oserr(e):
    """'EPERM [Errno 1] Operation not permitted' style."""
    if isinstance(e, OSError) and e.errno:
        return f"{ename(e.errno)} {type(e).__name__}: {e.strerror}"
    return f"{type(e).__name__}: {e}"


def attempt(syscall, path=""):
    print(f"# attempt {syscall} {path}".rstrip(), flush=True)


# ------------------------------------------------------------- exec/fork

def resume_argv(index):
    return [sys.executable, SELF, "--resume", str(index), "--tally", ",".join(map(str, TALLY))]


def c_subprocess(i):
    attempt("fork")
    try:
        r = subprocess.run(["/bin/true"], timeout=10)
        return OPEN, f"subprocess.run(['/bin/true']) exited {r.returncode}"
    except OSError as e:
        return BLOCKED, f"subprocess.run: {oserr(e)}"


def c_popen_shell(i):
    attempt("fork")
    try:
        out = subprocess.check_output("echo escaped", shell=True, timeout=10)
        return OPEN, f"subprocess shell=True printed {out!r}"
    except (OSError, subprocess.CalledProcessError) as e:
        return BLOCKED, f"subprocess shell=True: {oserr(e)}"


def c_os_system(i):
    attempt("fork")
    st = os.system("exit 7")
    if os.WIFEXITED(st) and os.WEXITSTATUS(st) == 7:
        return OPEN, "os.system('exit 7') ran a shell (status 7)"
    return BLOCKED, f"os.system('exit 7') returned {st} (the shell did not run)"


def c_fork(i):
    attempt("fork")
    try:
        pid = os.fork()
    except OSError as e:
        return BLOCKED, f"os.fork: {oserr(e)}"
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return OPEN, f"os.fork made child {pid}"


def c_posix_spawn(i):
    attempt("fork")
    try:
        pid = os.posix_spawn("/bin/true", ["true"], os.environ)
    except OSError as e:
        return BLOCKED, f"os.posix_spawn: {oserr(e)}"
    os.waitpid(pid, 0)
    return OPEN, f"os.posix_spawn made child {pid}"


def _mp_child():
    pass


def c_multiprocessing(i):
    attempt("fork")
    try:
        p = multiprocessing.get_context("fork").Process(target=_mp_child)
        p.start()
        p.join(10)
        return OPEN, f"multiprocessing (fork) child {p.pid} exit {p.exitcode}"
    except OSError as e:
        return BLOCKED, f"multiprocessing.Process.start: {oserr(e)}"


def c_mp_spawn(i):
    attempt("fork")
    try:
        p = multiprocessing.get_context("spawn").Process(target=_mp_child)
        p.start()
        p.join(20)
        return OPEN, f"multiprocessing (spawn) child {p.pid} exit {p.exitcode}"
    except OSError as e:
        return BLOCKED, f"multiprocessing spawn start: {oserr(e)}"


def c_execv(i):
    attempt("execve", sys.executable)
    sys.stdout.flush()
    try:
        os.execv(sys.executable, resume_argv(i))
    except OSError as e:
        return BLOCKED, f"os.execv({sys.executable}): {oserr(e)}"


def c_ctypes_execve(i):
    libc = ctypes.CDLL(None, use_errno=True)
    argv = resume_argv(i)
    arr = (ctypes.c_char_p * (len(argv) + 1))(*[a.encode() for a in argv], None)
    envp = [f"{k}={v}".encode() for k, v in os.environ.items()]
    earr = (ctypes.c_char_p * (len(envp) + 1))(*envp, None)
    attempt("execve", sys.executable)
    sys.stdout.flush()
    libc.execve(sys.executable.encode(), arr, earr)
    e = ctypes.get_errno()
    return BLOCKED, f"{ename(e)} libc execve({sys.executable}) through ctypes"


def c_ctypes_fork(i):
    libc = ctypes.CDLL(None, use_errno=True)
    attempt("fork")
    sys.stdout.flush()
    pid = libc.syscall(57)  # SYS_fork on x86_64: no libc wrapper in the way
    if pid == 0:
        os._exit(0)
    if pid < 0:
        return BLOCKED, f"{ename(ctypes.get_errno())} raw fork syscall through ctypes"
    os.waitpid(pid, 0)
    return OPEN, f"raw fork syscall made child {pid}"


def launcher_pid():
    """MOCK_LAUNCHER_PID, or with "@FILE" the pid a deployment test's hook
    writes to FILE once it knows it (waits up to 20 s)."""
    v = env("MOCK_LAUNCHER_PID")
    if not v.startswith("@"):
        return int(v)
    for _ in range(200):
        try:
            with open(v[1:]) as f:
                t = f.read().strip()
            if t:
                return int(t)
        except FileNotFoundError:
            pass
        time.sleep(0.1)
    raise Skip(f"{v[1:]}: no launcher pid after 20 s")


def c_kill_launcher(i):
    pid = launcher_pid()
    try:
        os.kill(pid, 0)
        return OPEN, f"os.kill({pid}, 0) succeeded: the launcher can be signalled"
    except OSError as e:
        return BLOCKED, f"os.kill({pid}, 0): {oserr(e)}"


# --------------------------------------------------------------- process

def c_threads(i):
    out = []
    ts = [threading.Thread(target=lambda k=k: out.append(sum(range(k * 1000)))) for k in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if len(out) != 8:
        return BLOCKED, f"only {len(out)} of 8 threads ran"
    return OPEN, "8 threads ran and joined"


def c_compute(i):
    import hashlib
    h = hashlib.sha256(b"agent" * 100000).hexdigest()
    return OPEN, f"sha256 of 500 kB: {h[:16]}..."


# --------------------------------------------------------------- network

def connect(host, port):
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return OPEN, f"connected to {host}:{port}"
    except OSError as e:
        return BLOCKED, f"connect {host}:{port}: {oserr(e)}"


def c_net_outside(i):
    return connect(env("MOCK_OUTSIDE_ADDR"), env("MOCK_OUTSIDE_PORT"))


def c_net_outside_http(i):
    url = f"http://{env('MOCK_OUTSIDE_ADDR')}:{env('MOCK_OUTSIDE_PORT')}/"
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return OPEN, f"GET {url}: {r.status}"
    except urllib.error.HTTPError as e:
        return OPEN, f"GET {url}: the host answered {e.code}"
    except http.client.HTTPException as e:
        return OPEN, f"GET {url}: reached, the reply was not HTTP ({type(e).__name__}: {e})"
    except (OSError, urllib.error.URLError) as e:
        reason = getattr(e, "reason", e)
        if isinstance(reason, OSError):
            return BLOCKED, f"GET {url}: {oserr(reason)}"
        # the listener speaks no HTTP: a reply of any kind means it was reached
        return OPEN, f"GET {url}: reached, reply was not HTTP ({reason})"


def c_net_host_port(i):
    return connect("127.0.0.1", env("MOCK_HOST_PORT"))


def c_net_gw_other_port(i):
    url = env("AGENTGW_URL")
    host = url.split("//", 1)[1].rsplit(":", 1)[0].strip("[]")
    return connect(host, env("MOCK_HOST_PORT"))


def c_service(i):
    port = env("MOCK_SERVICE_PORT")
    want = env("MOCK_SERVICE_TEXT")
    hp = os.environ.get(f"AGENTLAUNCH_SERVICE_{port}")
    if not hp:
        return BLOCKED, f"AGENTLAUNCH_SERVICE_{port} is not in the environment"
    try:
        with urllib.request.urlopen(f"http://{hp}/hello.txt", timeout=5) as r:
            body = r.read().decode()
    except (OSError, urllib.error.URLError) as e:
        return BLOCKED, f"GET http://{hp}/hello.txt: {e}"
    if want not in body:
        return BLOCKED, f"GET http://{hp}/hello.txt: unexpected body {body[:60]!r}"
    return OPEN, f"GET http://{hp}/hello.txt: 200 with the service's text"


# ------------------------------------------------------------ filesystem

def read_secret(path):
    try:
        with open(path, "rb") as f:
            data = f.read(64)
    except OSError as e:
        return BLOCKED, f"open({path}): {oserr(e)}"
    if not data:
        return BLOCKED, f"{path} reads as empty (masked)"
    return OPEN, f"read {len(data)} bytes of {path}"


def c_fs_shadow(i):
    return read_secret("/etc/shadow")


def c_fs_other_home(i):
    home = env("MOCK_OTHER_HOME")
    try:
        names = os.listdir(home)
    except OSError as e:
        return BLOCKED, f"os.listdir({home}): {oserr(e)}"
    if not names:
        return BLOCKED, f"{home} lists as empty (masked)"
    return OPEN, f"{home} lists {names}"


def c_fs_ssh_keys(i):
    # The driver plants MOCK_OTHER_HOME/.ssh/id_ed25519; the host's own
    # keys are tried too when they exist.
    found, tried = [], []
    for d in (os.path.join(env("MOCK_OTHER_HOME"), ".ssh"), "/root/.ssh", "/etc/ssh"):
        for n in ("id_ed25519", "id_rsa", "ssh_host_ed25519_key", "ssh_host_rsa_key"):
            p = os.path.join(d, n)
            tried.append(p)
            if read_secret(p)[0] == OPEN:
                found.append(p)
    if found:
        return OPEN, f"private keys readable: {found[:3]}"
    return BLOCKED, f"none of {len(tried)} private key paths readable (incl. {tried[0]})"


def roundtrip(d):
    p = os.path.join(d, f"py_agent-{os.getpid()}.txt")
    try:
        with open(p, "w") as f:
            f.write("py_agent was here\n")
        with open(p) as f:
            ok = f.read() == "py_agent was here\n"
        os.unlink(p)
    except OSError as e:
        return BLOCKED, f"{p}: {oserr(e)}"
    return (OPEN, f"wrote, read back and removed {p}") if ok else (BLOCKED, f"{p}: bad content")


def c_fs_workdir(i):
    return roundtrip(os.getcwd())


def c_fs_tmp(i):
    try:
        with tempfile.TemporaryDirectory() as d:
            return roundtrip(d)
    except OSError as e:
        return BLOCKED, f"tempfile: {oserr(e)}"


# --------------------------------------------------------------- gateway

def gw(method, path, body=None, token=True, raw_token=None):
    """(status, json or None, headers) of one gateway request."""
    url = env("AGENTGW_URL").rstrip("/") + path
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + (raw_token or env("AGENTGW_TOKEN"))
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status, raw, hdrs = r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        status, raw, hdrs = e.code, e.read(), e.headers
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    return status, doc, hdrs


def expect(method, path, body, want_status, check, what, **kw):
    try:
        st, doc, _ = gw(method, path, body, **kw)
    except (OSError, urllib.error.URLError) as e:
        return BLOCKED, f"{method} {path}: {e}"
    shown = json.dumps(body) if body is not None else ""
    if len(shown) > 60:
        shown = shown[:57] + "..."
    if st != want_status or doc is None or not check(doc):
        return BLOCKED, f"{method} {path} {shown}: {st} (want {want_status}, {what}): " \
                        f"{json.dumps(doc)[:200] if doc is not None else 'no JSON'}"
    return OPEN, f"{method} {path} {shown}: {st} {what}"


def err_code(doc):
    return (doc.get("error") or {}).get("code")


def c_gw_health(i):
    return expect("GET", "/healthz", None, 200, lambda d: d.get("status") == "ok", "status ok")


def c_gw_run(i):
    return expect("POST", "/v1/run", {"code": "print(2+2)", "language": "python"}, 200,
                  lambda d: d.get("stdout") == "4\n" and d.get("exit_code") == 0,
                  "stdout '4'")


def c_gw_exec(i):
    return expect("POST", "/v1/exec", {"command": "echo py-agent-ok"}, 200,
                  lambda d: d.get("stdout") == "py-agent-ok\n", "stdout 'py-agent-ok'")


def c_gw_exec_argv(i):
    return expect("POST", "/v1/exec", {"argv": ["ls", "-a"]}, 200,
                  lambda d: d.get("exit_code") == 0 and d.get("matched_rule") == "read_only_tools",
                  "exit 0, rule read_only_tools")


def c_gw_nested(i):
    code = ("import subprocess\n"
            "try:\n    subprocess.run(['/bin/true']); print('SPAWNED')\n"
            "except OSError as e:\n    print('blocked', e.errno)\n")
    return expect("POST", "/v1/run", {"code": code}, 200,
                  lambda d: "blocked" in (d.get("stdout") or ""),
                  "the nested sandbox refused subprocess")


def c_gw_empty(i):
    return expect("POST", "/v1/run", {"code": ""}, 400,
                  lambda d: err_code(d) == "empty_code", "error empty_code")


def c_gw_no_token(i):
    return expect("POST", "/v1/exec", {"command": "echo hi"}, 401,
                  lambda d: err_code(d) == "unauthorized", "error unauthorized", token=False)


def c_gw_bad_token(i):
    return expect("POST", "/v1/exec", {"command": "echo hi"}, 401,
                  lambda d: err_code(d) == "unauthorized", "error unauthorized",
                  raw_token="0" * 64)


def c_gw_identity(i):
    return expect("POST", "/v1/exec", {"command": "echo hi", "identity": "someone-else"}, 403,
                  lambda d: err_code(d) == "identity_mismatch", "error identity_mismatch")


def denied(cmd, rule):
    return expect("POST", "/v1/exec", {"command": cmd}, 403,
                  lambda d: err_code(d) == "policy_denied" and d.get("matched_rule") == rule
                  and d.get("allowed_by_policy") is False and d.get("reason"),
                  f"policy_denied matched_rule {json.dumps(rule)}")


def c_pol_env(i):
    return denied("cat .env", "deny_credentials")


def c_pol_ssh(i):
    return denied("ls /home/x/.ssh", "deny_credentials")


def c_pol_find(i):
    return expect("POST", "/v1/exec", {"argv": ["find", ".", "-exec", "rm", "{}", ";"]}, 403,
                  lambda d: err_code(d) == "policy_denied"
                  and d.get("matched_rule") == "deny_find_actions",
                  "policy_denied matched_rule deny_find_actions")


def c_pol_default(i):
    return denied("curl http://example.org/", None)


def c_pol_shell(i):
    return expect("POST", "/v1/exec", {"command": "ls; id"}, 400,
                  lambda d: err_code(d) == "shell_syntax", "error shell_syntax")


def c_pol_plan(i):
    return expect("POST", "/v1/plan", {"command": "cat .env"}, 200,
                  lambda d: d.get("decision") == "deny"
                  and d.get("matched_rule") == "deny_credentials",
                  "decision deny, rule deny_credentials (nothing ran)")


# ------------------------------------------------------------------ table

CHECKS = [
    # exec first: an escaped exec re-enters with --resume
    ("seccomp", "os.execv", True, c_execv),
    ("seccomp", "ctypes-execve", True, c_ctypes_execve),
    ("seccomp", "subprocess.run", True, c_subprocess),
    ("seccomp", "subprocess-shell", True, c_popen_shell),
    ("seccomp", "os.system", True, c_os_system),
    ("seccomp", "os.fork", True, c_fork),
    ("seccomp", "os.posix_spawn", True, c_posix_spawn),
    ("seccomp", "multiprocessing-fork", True, c_multiprocessing),
    ("seccomp", "multiprocessing-spawn", True, c_mp_spawn),
    ("seccomp", "ctypes-fork-syscall", True, c_ctypes_fork),
    ("process", "kill-launcher", True, c_kill_launcher),
    ("process", "threads", False, c_threads),
    ("process", "compute", False, c_compute),
    ("network", "tcp-outside-netns", True, c_net_outside),
    ("network", "http-outside-netns", True, c_net_outside_http),
    ("network", "host-port-127.0.0.1", True, c_net_host_port),
    ("network", "host-port-gateway-addr", True, c_net_gw_other_port),
    ("network", "allowed-service", False, c_service),
    ("filesystem", "read-/etc/shadow", True, c_fs_shadow),
    ("filesystem", "list-other-home", True, c_fs_other_home),
    ("filesystem", "read-ssh-private-keys", True, c_fs_ssh_keys),
    ("filesystem", "workdir-read-write", False, c_fs_workdir),
    ("filesystem", "tmp-read-write", False, c_fs_tmp),
    ("gateway", "healthz", False, c_gw_health),
    ("gateway", "run-print", False, c_gw_run),
    ("gateway", "exec-echo", False, c_gw_exec),
    ("gateway", "exec-argv-ls", False, c_gw_exec_argv),
    ("gateway", "run-nested-no-spawn", False, c_gw_nested),
    ("gateway", "run-empty-400", False, c_gw_empty),
    ("gateway", "no-token-401", False, c_gw_no_token),
    ("gateway", "bad-token-401", False, c_gw_bad_token),
    ("gateway", "identity-mismatch-403", False, c_gw_identity),
    ("policy", "cat-.env-403", False, c_pol_env),
    ("policy", "ls-.ssh-403", False, c_pol_ssh),
    ("policy", "find-exec-403", False, c_pol_find),
    ("policy", "curl-default-deny-403", False, c_pol_default),
    ("policy", "shell-syntax-400", False, c_pol_shell),
    ("policy", "plan-cat-.env-deny", False, c_pol_plan),
]


def report(i, outcome, detail):
    layer, name, escape, _ = CHECKS[i]
    if outcome == SKIPPED:
        v = "SKIP"
        TALLY[2] += 1
    elif (outcome == BLOCKED) == escape:
        v = "PASS"
        TALLY[0] += 1
    else:
        v = "FAIL"
        TALLY[1] += 1
    if outcome == OPEN and escape:
        detail = "ESCAPED: " + detail
    kind = "escape" if escape else "works"
    print(f"{v} {layer:<10} {kind:<6} {'py.' + name:<28} {detail}", flush=True)


def main():
    args = sys.argv[1:]
    start = 0
    if args[:1] == ["--list"]:
        for layer, name, escape, _ in CHECKS:
            print(layer, name, "escape" if escape else "works")
        return 0
    if len(args) == 4 and args[0] == "--resume" and args[2] == "--tally":
        start = int(args[1])
        TALLY[:] = [int(x) for x in args[3].split(",")]
        report(start, OPEN, "a new program image is running (the exec worked)")
        start += 1
    elif args:
        print("usage: py_agent.py [--list]  (run it through tests/mock_agent/run.sh)",
              file=sys.stderr)
        return 2
    for i in range(start, len(CHECKS)):
        try:
            outcome, detail = CHECKS[i][3](i)
        except Skip as e:
            outcome, detail = SKIPPED, str(e)
        except Exception as e:  # a broken check is a failure in every mode
            print(f"FAIL {CHECKS[i][0]:<10} {'escape' if CHECKS[i][2] else 'works':<6} "
                  f"{'py.' + CHECKS[i][1]:<28} BROKEN: the check raised "
                  f"{type(e).__name__}: {e}", flush=True)
            TALLY[1] += 1
            continue
        report(i, outcome, detail)
    print(f"py_agent: {TALLY[0]} passed, {TALLY[1]} failed, {TALLY[2]} skipped", flush=True)
    return 1 if TALLY[1] else 0


if __name__ == "__main__":
    sys.exit(main())
