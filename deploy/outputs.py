"""Names of the files the deploy scripts draw: never an input's own file, never two outputs on one name."""
import os


class OutputNames:
    """Hands out output paths.  ``inputs``: files that must never be written over (the photos and videos
    being read).  A name already handed out or belonging to an input gets ``-2``, ``-3``, ... before its
    extension."""

    def __init__(self, inputs=()):
        self.taken = {os.path.realpath(str(p)) for p in inputs}

    def path(self, folder, name):
        stem, ext = os.path.splitext(name)
        path, k = os.path.join(folder, name), 1
        while os.path.realpath(path) in self.taken:
            k += 1
            path = os.path.join(folder, "%s-%d%s" % (stem, k, ext))
        self.taken.add(os.path.realpath(path))
        return path
