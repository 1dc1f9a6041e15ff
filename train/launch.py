"""Start a parameter-server run on this machine: a scheduler, servers and workers.

    python train/launch.py -n 2 -s 1 -- python train/train_landmarks.py ... --kvstore dist_sync

Every process runs the same command; MXNet turns the scheduler and server
processes into parameter-server roles when it is imported (``DMLC_ROLE``).
Addresses are explicit (``DMLC_PS_ROOT_URI``, ``DMLC_NODE_HOST``,
``DMLC_INTERFACE``), so nothing binds to a non-loopback address by accident.
MXNet's own ``tools/launch.py`` fails on Python 3.11 (``Thread.isAlive``) and
picks a non-loopback address; this replaces it for local runs.

A multi-machine run sets the same variables by hand on each machine (see
train/README.md): the scheduler's address and port everywhere, each
machine's own address in ``DMLC_NODE_HOST``, its network interface in
``DMLC_INTERFACE``, and ``DMLC_ROLE`` per process.

Security: MXNet's parameter-server traffic (ps-lite over ZeroMQ) is neither
authenticated nor encrypted; anyone who reaches a role's port can read the
gradients and push their own.  With the default ``--host 127.0.0.1`` every
role (scheduler, servers, workers) listens on 127.0.0.1 only (checked with
``ss -ltnp`` during a 2-worker run); with another address a warning is
printed.  Run across machines only on a network you trust (a private
subnet, a VPN or an SSH tunnel).
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from recordio.cli import renamed  # noqa: E402


def free_port(host):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--workers", type=int, required=True, help="worker processes (each trains on its shard)")
    ap.add_argument("-s", "--servers", type=int, default=1, help="parameter-server processes")
    renamed(ap, "--num_workers", "--workers (--num_workers is the training scripts' loader processes)")
    renamed(ap, "--num_servers", "--servers")
    ap.add_argument("--host", default="127.0.0.1", help="address of the scheduler (and of every role here)")
    ap.add_argument("--port", type=int, default=0, help="scheduler port (default: a free one)")
    ap.add_argument("--interface", default=None, help="network interface (default: lo for a loopback host)")
    ap.add_argument("--timeout", type=float, default=0, help="kill everything after this many seconds (0 = never)")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- then the training command")
    args = ap.parse_args(argv)
    if args.command and args.command[0] == "--":
        args.command = args.command[1:]
    if not args.command:
        ap.error("give the training command after --")
    return args


def role_env(args, port, role, rank=None):
    env = dict(os.environ)
    env.update({"DMLC_ROLE": role, "DMLC_PS_ROOT_URI": args.host, "DMLC_PS_ROOT_PORT": str(port),
                "DMLC_NUM_SERVER": str(args.servers), "DMLC_NUM_WORKER": str(args.workers),
                "DMLC_NODE_HOST": args.host, "PS_VERBOSE": env.get("PS_VERBOSE", "0")})
    iface = args.interface or ("lo" if args.host.startswith("127.") or args.host == "localhost" else None)
    if iface:
        env["DMLC_INTERFACE"] = iface
    if rank is not None:
        env["DMLC_WORKER_ID"] = str(rank)
    return env


def is_loopback(host):
    """Whether ``host`` is this machine's loopback address (nothing else can reach it)."""
    import ipaddress
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv=None):
    args = parse_args(argv)
    if not is_loopback(args.host):
        print("launch: warning: %s is not a loopback address; MXNet's parameter-server traffic is neither "
              "authenticated nor encrypted, so run this only on a network you trust" % args.host, file=sys.stderr)
    port = args.port or free_port(args.host)
    procs = [subprocess.Popen(args.command, env=role_env(args, port, "scheduler"))]
    procs += [subprocess.Popen(args.command, env=role_env(args, port, "server")) for _ in range(args.servers)]
    workers = [subprocess.Popen(args.command, env=role_env(args, port, "worker", r)) for r in range(args.workers)]
    procs += workers
    start = time.time()
    code = 0
    try:
        while any(p.poll() is None for p in workers):
            if args.timeout and time.time() - start > args.timeout:
                print("launch: timed out after %.0f s" % args.timeout, file=sys.stderr)
                code = 124
                break
            failed = [p for p in procs if p.poll() not in (None, 0)]
            if failed:
                print("launch: a process exited with code %d" % failed[0].returncode, file=sys.stderr)
                code = failed[0].returncode
                break
            time.sleep(0.2)
        code = code or max(p.returncode or 0 for p in workers)
        for p in procs[:1 + args.servers]:  # scheduler and servers stop when the workers finalise
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    return code


if __name__ == "__main__":
    from recordio.cli import run
    sys.exit(run(main))
