import pytest

from recordio import devices


def test_parse_gpu_ids():
    assert devices.parse_gpu_ids("0,1,2,3") == [0, 1, 2, 3]
    assert devices.parse_gpu_ids("") == [] and devices.parse_gpu_ids(None) == []
    with pytest.raises(devices.DeviceError, match="comma-separated"):
        devices.parse_gpu_ids("0;1")
    with pytest.raises(devices.DeviceError, match="repeated"):
        devices.parse_gpu_ids("1,1")


def test_hopper_gets_a_plain_message_not_a_crash():
    with pytest.raises(devices.DeviceError, match=r"compute capability 9\.0.*sm_50 to sm_86"):
        devices.check_gpus([1], capabilities={0: (8, 6), 1: (9, 0)})


def test_kepler_is_too_old():
    with pytest.raises(devices.DeviceError, match=r"3\.7"):
        devices.check_gpus([0], capabilities={0: (3, 7)})


def test_missing_gpu_id_lists_the_real_ones():
    with pytest.raises(devices.DeviceError, match=r"GPU 4 does not exist.*\[0, 1\]"):
        devices.check_gpus([4], capabilities={0: (7, 5), 1: (7, 5)})


def test_no_driver_says_so():
    with pytest.raises(devices.DeviceError, match="no CUDA driver"):
        devices.check_gpus([0], capabilities={})


def test_supported_gpu_on_cpu_build_asks_for_the_cuda_wheel():
    import mxnet as mx
    if mx.context.num_gpus() > 0:
        pytest.skip("a CUDA build of MXNet with GPUs is installed")
    with pytest.raises(devices.DeviceError, match="requirements-gpu.txt"):
        devices.check_gpus([0], capabilities={0: (8, 9)})


def test_empty_ids_mean_cpu_and_cpu_contexts_can_be_named():
    import mxnet as mx
    assert devices.contexts("") == [mx.cpu()]
    assert devices.contexts("cpu:0,cpu:1") == [mx.cpu(0), mx.cpu(1)]
