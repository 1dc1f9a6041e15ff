"""Network registry: ``get_model(name, **kwargs)``.

>>> net = get_model("course_stage1")
"""
import inspect
from functools import partial

from symbols.detect import FaceSSD
from symbols.gaze import Gaze360Net, LandmarkGaze, MC4GazeNet, MobileFaceGaze
from symbols.landmarks import PFLD, BackboneRegressor, BaseRegressor, CourseCNN, HeatmapRegressor, PlainRegressor

_MODELS = {
    "course_stage1": partial(CourseCNN, face_head=False, output="px"),
    "course_stage2_cnn": partial(CourseCNN, width=2.0, bn=True, dropout=0.2, output="px"),
    "course_stage2_fpn": partial(CourseCNN, width=2.0, bn=True, dropout=0.2, output="px", fpn=True),
    "course_stage3_cnn": partial(CourseCNN, width=2.0, bn=True, dropout=0.2, face_head=True),
    "course_stage3_cnn_hm": partial(CourseCNN, width=2.0, bn=True, face_head=True, head="integral"),
    "course_stage2_resnet18": partial(BackboneRegressor, backbone="resnet18"),
    "course_stage2_mobilenetv2": partial(BackboneRegressor, backbone="mobilenetv2"),
    "course_stage3": partial(CourseCNN, face_head=True),
    "course_stage3_resnet18": partial(BackboneRegressor, backbone="resnet18", face_head=True),
    "course_stage3_mobilenetv2": partial(BackboneRegressor, backbone="mobilenetv2", face_head=True),
    "course_stage2_resnet18_hm": partial(HeatmapRegressor, backbone="resnet18"),
    "course_stage3_resnet18_hm": partial(HeatmapRegressor, backbone="resnet18", face_head=True),
    "course_stage3_mobilenetv2_hm": partial(HeatmapRegressor, backbone="mobilenetv2", face_head=True),
    "course_stage3_mobilenetv2_0.5_hm": partial(HeatmapRegressor, backbone="mobilenetv2_0.5", face_head=True,
                                                deconv=(64, 64, 64)),
    "base_regressor": BaseRegressor,
    "plain_regressor": PlainRegressor,
    "pfld_0.25": partial(PFLD, width=0.25),
    "pfld_1.0": partial(PFLD, width=1.0),
    "mc4_gazenet": MC4GazeNet,
    "mc4_gazenet_2eyes": partial(MC4GazeNet, eyes="both"),
    "mc4_gazenet_small": partial(MC4GazeNet, backbone="small", eyes="both"),
    "mc4_gazenet_small_1eye": partial(MC4GazeNet, backbone="small", eyes="one"),
    "mc4_gazenet_resnet18": partial(MC4GazeNet, backbone="resnet18", eyes="both"),
    "mobile_facegaze": MobileFaceGaze,
    "mobile_facegaze_sm": partial(MobileFaceGaze, head="softmax_bn"),
    "landmark_gaze": LandmarkGaze,
    "gaze360_lstm": Gaze360Net,
    "gaze360_lstm_relu256": partial(Gaze360Net, frame_head="relu256"),
    "gaze360_static": partial(Gaze360Net, frames=1, frame_head="relu256"),
    "face_ssd": FaceSSD,
}


def model_names():
    return sorted(_MODELS)


def model_defaults(name):
    """The constructor arguments ``get_model(name)`` uses when not given (e.g. ``input_size``,
    ``input_channels``), read from its signature without building the network."""
    try:
        factory = _MODELS[name]
    except KeyError:
        raise ValueError("unknown model %r; valid names: %s" % (name, ", ".join(model_names())))
    return {k: p.default for k, p in inspect.signature(factory).parameters.items()
            if p.default is not inspect.Parameter.empty}


def get_model(name, **kwargs):
    """Build the network ``name``; keyword arguments go to its constructor."""
    try:
        factory = _MODELS[name]
    except KeyError:
        raise ValueError("unknown model %r; valid names: %s" % (name, ", ".join(model_names())))
    return factory(**kwargs)
