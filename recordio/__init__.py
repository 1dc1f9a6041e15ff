"""RecordIO archives, schemas, geometry and the other pieces every part of the project reads.

Importing it bounds MXNet's MKL-DNN primitive cache (``MXNET_MKLDNN_CACHE_NUM``, unbounded by default: every
new input shape, e.g. each photo size MTCNN's pyramid sees, kept its primitives and their memory for good, about
100 MB per photo size, until a folder of photos ran out of memory).  MXNet reads the variable when it first
creates a primitive, so it takes effect wherever the project is imported before the first network runs; a value
the user set is kept.
"""
import os

MKLDNN_CACHE = 64  # primitives kept per operator kind (the photo path levels off at 2.2 GB over 200 photos)
os.environ.setdefault("MXNET_MKLDNN_CACHE_NUM", str(MKLDNN_CACHE))
