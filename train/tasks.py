"""Task registry for scripts that rebuild a run from its args.json."""


def make_task(name, args):
    if name == "landmarks":
        from train.landmark_task import LandmarkTask
        return LandmarkTask(args)
    if name == "gaze":
        from train.gaze_task import GazeTask
        return GazeTask(args)
    raise ValueError("unknown task %r (landmarks, gaze)" % name)
