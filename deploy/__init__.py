"""Inference from exported files only.  ``from deploy import FaceAnalyzer`` is the photo and video path
(``deploy/analyzer.py``); it is imported when first asked for, so the light modules here stay light."""

LIBRARY = ("FaceAnalyzer", "Face", "VideoFrame")


def __getattr__(name):
    if name in LIBRARY:
        from deploy import analyzer
        return getattr(analyzer, name)
    raise AttributeError("module 'deploy' has no attribute %r" % name)
