#!/usr/bin/python3
"""A small agent for the deployment tests (run under agentlaunch).

It counts its starts in its working directory and fails the first one with
status 3 (so a unit with Restart=on-failure restarts it).  On later starts it
asks the gateway to run Python through AGENTGW_URL with AGENTGW_TOKEN, tries
to start a process of its own (which the launcher's lock must refuse), and
writes what it saw to result.json in its working directory.
With --once it skips the failing first start.
"""
import json
import os
import sys
import urllib.error
import urllib.request


def main():
    once = "--once" in sys.argv[1:]
    n = 1
    try:
        with open("starts") as f:
            n = int(f.read() or "0") + 1
    except FileNotFoundError:
        pass
    with open("starts", "w") as f:
        f.write(str(n))
    if n == 1 and not once:
        print("probe_agent: first start: failing on purpose", file=sys.stderr)
        return 3
    res = {"start": n, "uid": os.getuid(), "url": os.environ.get("AGENTGW_URL")}
    body = json.dumps({"code": "print(6*7)", "language": "python"}).encode()
    req = urllib.request.Request(
        os.environ["AGENTGW_URL"] + "/v1/run", data=body,
        headers={"Authorization": "Bearer " + os.environ.get("AGENTGW_TOKEN", ""),
                 "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            out = json.load(r)
        res["run_stdout"] = out.get("stdout")
        res["run_layers"] = out.get("layers")
    except urllib.error.HTTPError as e:
        res["run_error"] = "%d %s" % (e.code, e.read().decode(errors="replace")[:500])
    except Exception as e:  # report, do not crash: the test reads the file
        res["run_error"] = repr(e)
    try:
        os.posix_spawn("/bin/true", ["/bin/true"], os.environ)
        res["spawn"] = "ALLOWED"
    except OSError as e:
        res["spawn"] = os.strerror(e.errno)
    with open("result.json.tmp", "w") as f:
        json.dump(res, f)
    os.rename("result.json.tmp", "result.json")
    print("probe_agent:", json.dumps(res))
    return 0 if res.get("run_stdout") == "42\n" else 1


if __name__ == "__main__":
    sys.exit(main())
