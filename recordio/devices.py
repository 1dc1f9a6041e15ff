"""Device selection: ``--gpu_ids 0,1,2,3`` to MXNet contexts, with a clear check first.

The MXNet 1.9.1 CUDA wheels carry kernels for compute capabilities 5.0 to
8.6.  Binary kernels run on later minor versions of the same major (8.9 runs
sm_86 code) but not on a new major: Hopper (9.0) and newer cannot run them,
and MXNet would otherwise fail deep inside the first operator.
"""
import ctypes
import os
import subprocess

from recordio.errors import UserError

MIN_CC = (5, 0)
MAX_MAJOR = 8  # the newest architecture family the 1.9.1 CUDA builds carry code for


class DeviceError(UserError, RuntimeError):
    pass


def parse_gpu_ids(text):
    """'0,1,2' -> [0, 1, 2]; '' or None -> [] (CPU)."""
    if text is None or str(text).strip() in ("", "-1", "cpu"):
        return []
    try:
        ids = [int(t) for t in str(text).replace(" ", "").split(",") if t != ""]
    except ValueError:
        raise DeviceError("--gpu_ids must be a comma-separated list of integers like 0,1,2,3, got %r" % text)
    if len(set(ids)) != len(ids) or any(i < 0 for i in ids):
        raise DeviceError("--gpu_ids has repeated or negative ids: %r" % text)
    return ids


def compute_capabilities():
    """{device id: (major, minor)} from the CUDA driver, or nvidia-smi; {} when neither answers."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
        if cuda.cuInit(0) == 0:
            n = ctypes.c_int()
            cuda.cuDeviceGetCount(ctypes.byref(n))
            out = {}
            for i in range(n.value):
                major, minor = ctypes.c_int(), ctypes.c_int()
                cuda.cuDeviceGetAttribute(ctypes.byref(major), 75, i)  # CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
                cuda.cuDeviceGetAttribute(ctypes.byref(minor), 76, i)  # ..._MINOR
                out[i] = (major.value, minor.value)
            return out
    except OSError:
        pass
    try:
        text = subprocess.run(["nvidia-smi", "--query-gpu=index,compute_cap", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=20).stdout
        out = {}
        for line in text.strip().splitlines():
            idx, cc = [t.strip() for t in line.split(",")]
            major, minor = cc.split(".")
            out[int(idx)] = (int(major), int(minor))
        return out
    except (OSError, ValueError, subprocess.SubprocessError):
        return {}


def check_gpus(ids, capabilities=None):
    """Raise DeviceError with a plain explanation when a requested GPU cannot run MXNet 1.9.1."""
    if not ids:
        return
    caps = compute_capabilities() if capabilities is None else capabilities
    if not caps:
        raise DeviceError("--gpu_ids %s asks for GPUs but no CUDA driver or GPU answered on this machine "
                          "(leave --gpu_ids empty to train on the CPU)" % ",".join(map(str, ids)))
    for i in ids:
        if i not in caps:
            raise DeviceError("GPU %d does not exist; this machine has GPUs %s" % (i, sorted(caps)))
        cc = caps[i]
        if cc < MIN_CC or cc[0] > MAX_MAJOR:
            raise DeviceError(
                "GPU %d has compute capability %d.%d, which the MXNet 1.9.1 CUDA builds have no code for "
                "(they carry sm_50 to sm_86: Maxwell to Ampere/Ada). MXNet is retired upstream and no newer "
                "build exists; use an older GPU or train on the CPU (empty --gpu_ids)." % (i, cc[0], cc[1]))
    try:
        import mxnet as mx
        n = mx.context.num_gpus()
    except Exception as e:  # a CPU-only mxnet wheel raises here
        raise DeviceError("GPUs requested but the installed MXNet cannot use them (%s); install the CUDA build: "
                          "pip install -r requirements-gpu.txt -c constraints.txt" % e)
    if n == 0:
        raise DeviceError("GPUs requested but the installed MXNet is the CPU build; install the CUDA build: "
                          "pip uninstall -y mxnet && pip install -r requirements-gpu.txt -c constraints.txt")


def contexts(gpu_ids, check=True):
    """MXNet contexts for ``--gpu_ids`` (a string or a list); CPU when empty.

    ``--gpu_ids`` may name CPU contexts for testing multi-device code on one
    machine with the ``cpu:N`` form, e.g. ``cpu:0,cpu:1``.
    """
    import mxnet as mx
    if isinstance(gpu_ids, str) and gpu_ids.startswith("cpu:"):
        return [mx.cpu(int(t.split(":")[1])) for t in gpu_ids.split(",")]
    ids = parse_gpu_ids(gpu_ids) if isinstance(gpu_ids, (str, type(None))) else list(gpu_ids)
    if not ids:
        return [mx.cpu()]
    if check:
        check_gpus(ids)
    return [mx.gpu(i) for i in ids]


def use_all_cores():
    """MXNet 1.9.1 defaults to one OpenMP thread here; use every core unless the user set it.

    Call it before anything imports mxnet: the library reads these variables once when it loads.
    """
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    os.environ.setdefault("MXNET_CPU_WORKER_NTHREADS", str(os.cpu_count() or 1))


def plain_layout(params):
    """Give each Gluon parameter fresh arrays in MXNet's plain layout (same values, new gradients).

    MXNet's CPU (MKLDNN) convolutions turn their weights into their own layout in place, asynchronously, on an
    inference forward, and not every reader of an array copes: a distributed kvstore's first push reads the
    weights from an engine operation that has nowhere to report a failure (a weight never reached the server,
    which aborted at the first pull: "Check failed: !stored.is_none(): init 15 first"), and parameters loaded
    into a trained network before its export once came out with one transposed-convolution weight scrambled
    (the heatmap head's upsampling: the export scored NME 0.52 where its best.params scored 0.054).  Copies
    are always plain."""
    import mxnet as mx
    mx.nd.waitall()
    for p in params:
        p.reset_ctx(p.list_ctx())
    mx.nd.waitall()
