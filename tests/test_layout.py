"""The project's layering (DESIGN.md): data flows tools -> recordio -> (symbols, train) -> deploy."""
import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOP = ("recordio", "symbols", "train", "deploy", "tools", "bench", "tests")
FORBIDDEN = {"recordio": {"tools", "train", "deploy", "symbols"}, "symbols": {"train", "deploy", "tools"},
             "deploy": {"train", "tools", "symbols"}, "train": {"deploy", "tools"}}


def _imports(path):
    """Top-level project packages a file imports, anywhere in it (lazy imports inside functions too)."""
    tree = ast.parse(open(path).read(), path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(TOP)


def _module_imports(package):
    for name in sorted(os.listdir(os.path.join(ROOT, package))):
        if name.endswith(".py"):
            yield name, _imports(os.path.join(ROOT, package, name))


def test_each_folder_imports_only_what_the_layering_allows():
    bad = [(pkg, name, sorted(found & FORBIDDEN[pkg])) for pkg in FORBIDDEN for name, found in _module_imports(pkg)
           if found & FORBIDDEN[pkg]]
    assert not bad


def test_the_training_loop_and_the_export_do_not_import_each_other():
    def train_modules(path):
        tree = ast.parse(open(path).read())
        mods = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("train"):
                mods |= {node.module} | {"%s.%s" % (node.module, a.name) for a in node.names}
            elif isinstance(node, ast.Import):
                mods |= {a.name for a in node.names if a.name.startswith("train")}
        return mods

    loop, export = (train_modules(os.path.join(ROOT, "train", f)) for f in ("loop.py", "export.py"))
    tasks = [train_modules(os.path.join(ROOT, "train", f)) for f in ("landmark_task.py", "gaze_task.py", "task.py")]
    assert "train.export" not in loop and "train.loop" not in export
    assert all("train.loop" not in t and "train.export" not in t for t in tasks)


def test_the_inspector_and_the_archive_reader_do_not_load_mxnet():
    import subprocess
    import sys
    code = ("import sys; from recordio.dataset import ArchiveReader; from tools import inspect_rec; "
            "assert 'mxnet' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
