#!/usr/bin/python3
"""A minimal agent loop that talks to agentgw — copy it to wrap your own agent.

Under agentlaunch your agent cannot exec or fork, and it reaches nothing but
the gateway and the services you allowed.  Everything it wants to *run* goes
through the gateway, which checks the policy, runs the request in a nested
sandbox and writes the audit log.  agentlaunch gives the agent:

    AGENTGW_URL    e.g. http://10.77.0.1:9999
    AGENTGW_TOKEN  a bearer token bound to the agent's identity

Run it:
    sudo agentlaunch --policy policy/default.json -- /usr/bin/python3 examples/agent_loop.py

or against a gateway you started yourself (development, loopback):
    AGENTGW_URL=http://127.0.0.1:9999 AGENTGW_TOKEN=... /usr/bin/python3 examples/agent_loop.py

Standard library only.  Replace next_action() with your model's decisions.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request

GATEWAY = os.environ.get("AGENTGW_URL", "http://127.0.0.1:9999").rstrip("/")
TOKEN = os.environ.get("AGENTGW_TOKEN", "")
MAX_RETRIES = 5


class PolicyDenied(Exception):
    """The policy refused the request: show the rule and the reason to the model."""

    def __init__(self, rule, reason, message):
        super().__init__(f"denied by rule {rule or '(default deny)'}: {reason or message}")
        self.rule, self.reason = rule, reason


class GatewayError(Exception):
    pass


def call(path, body):
    """POST body to the gateway; return the JSON answer of a 200.

    403 policy_denied -> PolicyDenied (matched_rule, reason).
    429 rate_limited  -> wait Retry-After seconds, then try again.
    503 overloaded    -> back off and try again.
    anything else     -> GatewayError with the gateway's error code and message."""
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if TOKEN:
        headers["Authorization"] = "Bearer " + TOKEN
    for attempt in range(MAX_RETRIES):
        req = urllib.request.Request(GATEWAY + path, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            try:
                doc = json.load(e)
            except ValueError:
                doc = {}
            err = doc.get("error") or {}
            if e.code == 403 and err.get("code") == "policy_denied":
                raise PolicyDenied(doc.get("matched_rule"), doc.get("reason"), err.get("message"))
            if e.code in (429, 503):
                wait = e.headers.get("Retry-After")
                delay = int(wait) if wait and wait.isdigit() else 2 ** attempt
                print(f"[gateway] {e.code} {err.get('code')}: retrying in {delay} s",
                      file=sys.stderr)
                time.sleep(min(delay, 60))
                continue
            raise GatewayError(f"{e.code} {err.get('code')}: {err.get('message')}") from None
        except urllib.error.URLError as e:
            raise GatewayError(f"cannot reach the gateway at {GATEWAY}: {e.reason}") from None
    raise GatewayError(f"gave up after {MAX_RETRIES} attempts (rate limited or overloaded)")


def run_code(code, timeout_sec=30):
    """Run Python code in the gateway's python_sandbox (POST /v1/run)."""
    return call("/v1/run", {"code": code, "language": "python", "timeout_sec": timeout_sec})


def run_command(argv, cwd=None):
    """Run one command, no shell (POST /v1/exec with argv: nothing to quote)."""
    body = {"argv": argv}
    if cwd:
        body["cwd"] = cwd
    return call("/v1/exec", body)


def observe(result):
    """What the model sees of a result."""
    out = f"exit {result.get('exit_code')}"
    if result.get("timed_out"):
        out += " (timed out)"
    if result.get("stdout"):
        out += f"\nstdout:\n{result['stdout']}"
    if result.get("stderr"):
        out += f"\nstderr:\n{result['stderr']}"
    return out


# A scripted "model": a real agent asks its LLM for the next action here.
PLAN = [
    ("code", "import platform, sys\nprint('python', sys.version.split()[0], platform.machine())"),
    ("command", ["ls", "-la"]),
    ("command", ["cat", ".env"]),          # the default policy denies credential files
    ("code", "import subprocess\nsubprocess.run(['id'])"),  # the sandbox refuses to spawn
    ("command", ["git", "status"]),
]


def next_action(step, last_observation):
    return PLAN[step] if step < len(PLAN) else None


def main():
    if not TOKEN:
        print("note: AGENTGW_TOKEN is not set (fine only for a development gateway "
              "without --tokens)", file=sys.stderr)
    observation = None
    for step in range(20):
        action = next_action(step, observation)
        if action is None:
            break
        kind, what = action
        shown = what if kind == "code" else " ".join(what)
        print(f"\n>>> {kind}: {shown}")
        try:
            result = run_code(what) if kind == "code" else run_command(what)
            observation = observe(result)
            print(f"[{result.get('matched_rule')}] {observation}")
        except PolicyDenied as e:
            # Tell the model why, so it can choose something allowed.
            observation = f"DENIED by policy: rule={e.rule} reason={e.reason}"
            print(observation)
        except GatewayError as e:
            observation = f"ERROR: {e}"
            print(observation)
            if "cannot reach" in str(e):
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
