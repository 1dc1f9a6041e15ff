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


def _module_graph():
    """{module: project modules it imports anywhere in it (lazy imports too; ``from pkg import mod`` counts the
    module ``pkg.mod`` when it is one)} for every module of the project's folders."""
    modules = {}
    for pkg in TOP:
        for dirpath, _, files in os.walk(os.path.join(ROOT, pkg)):
            for f in files:
                if f.endswith(".py"):
                    rel = os.path.relpath(os.path.join(dirpath, f), ROOT)[:-3].replace(os.sep, ".")
                    modules[rel[: -len(".__init__")] if rel.endswith(".__init__") else rel] = os.path.join(dirpath, f)
    graph = {}
    for mod, path in modules.items():
        package = mod if path.endswith("__init__.py") else mod.rsplit(".", 1)[0]
        edges = set()
        for node in ast.walk(ast.parse(open(path).read(), path)):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                names = [base] + ["%s.%s" % (base, a.name) for a in node.names]
            else:
                continue
            edges |= {n for n in names if n in modules and n != mod}
        graph[mod] = edges
    return graph


def test_no_module_imports_itself_through_others():
    """No import circle anywhere: registries import their members, members import a base that lives apart."""
    graph = _module_graph()
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not circles


def test_the_readme_is_short_and_every_page_it_links_to_exists():
    import re
    readme = open(os.path.join(ROOT, "README.md")).read()
    assert len(readme.splitlines()) <= 200
    pages = ["README.md"] + ["docs/" + n for n in os.listdir(os.path.join(ROOT, "docs")) if n.endswith(".md")]
    for page in pages:
        text = open(os.path.join(ROOT, page)).read()
        for target in re.findall(r"\]\(([^)#]+)\)", text):
            if not target.startswith("http"):
                assert os.path.exists(os.path.join(ROOT, os.path.dirname(page), target)), (page, target)
