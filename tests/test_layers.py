"""The import graph of loadkit/: no cycles (lazy imports inside functions count too), no upward imports.

Layers, lowest first: a module may import its own component and any lower layer, never a higher one.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "loadkit"

LAYERS: dict[str, int] = {
    "errors": 0, "units": 0, "status": 0, "files": 0, "redact": 0, "hosts": 0,
    "runfolder": 1, "profiles": 1, "collectors": 1, "standin": 1, "parity": 1,
    "scenario": 2,
    "analysis": 3, "fingerprint": 3, "baseline": 3,
    "verdict": 4,
    "report": 5, "capacity": 5,
    "run": 6,
    "cli": 7, "__main__": 7,
}
#: components that must not import each other although their layers would allow it
FORBIDDEN = {("collectors", "standin"), ("standin", "collectors"), ("profiles", "collectors"),
             ("profiles", "standin")}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every loadkit module ``path`` imports, at the top or inside a function."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "loadkit"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "loadkit":
                continue
            out.add(target)
            for a in node.names:  # "from . import x" may name a submodule
                if (ROOT.parent / Path(*f"{target}.{a.name}".split("."))).with_suffix(".py").exists() or (
                        ROOT.parent / Path(*f"{target}.{a.name}".split(".")) / "__init__.py").exists():
                    out.add(f"{target}.{a.name}")
    out.discard(name)
    return out


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in ROOT.rglob("*.py")}


def component(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_component_has_a_layer():
    comps = {component(m) for m in graph()} - {"__init__"}
    assert comps <= set(LAYERS), f"components without a layer: {sorted(comps - set(LAYERS))}"


def test_no_upward_or_forbidden_import():
    bad = []
    for src, targets in graph().items():
        cs = component(src)
        if cs == "__init__":  # loadkit/__init__.py: lazy re-exports only
            continue
        for dst in targets:
            cd = component(dst)
            if cd in ("__init__", cs):
                continue
            if LAYERS[cd] > LAYERS[cs] or (cs, cd) in FORBIDDEN:
                bad.append(f"{src} -> {dst} ({cs} layer {LAYERS[cs]} imports {cd} layer {LAYERS[cd]})")
    assert not bad, "\n".join(bad)


def test_no_import_cycle_between_modules():
    g = graph()
    # a package's __init__ re-exporting its own submodules is not a cycle of meaning; drop those edges
    deps = {s: {d for d in ds if not d.startswith(s + ".") and d != "loadkit"} for s, ds in g.items()}
    try:
        tuple(TopologicalSorter(deps).static_order())
    except CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None


def test_verdict_and_scenario_never_import_locust():
    """A verdict is computed without Locust (``loadkit compare`` on a machine without a load generator)."""
    g = graph()

    def closure(start: set[str]) -> set[str]:
        seen, todo = set(), list(start)
        while todo:
            m = todo.pop()
            if m in seen:
                continue
            seen.add(m)
            todo += [d for d in g.get(m, ()) if d in g]
        return seen

    for root in ("loadkit.verdict", "loadkit.scenario.model", "loadkit.analysis", "loadkit.baseline"):
        mods = closure({root})
        users = [m for m in mods if any(isinstance(n, (ast.Import, ast.ImportFrom)) and _names_locust(n)
                                        for n in _top_level(m))]
        assert not users, f"{root} reaches Locust at module level through {users}"


def _top_level(module: str):
    path = ROOT.parent / Path(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    return ast.parse(path.read_text(encoding="utf-8")).body


def _names_locust(node: ast.AST) -> bool:
    if isinstance(node, ast.Import):
        return any(a.name.split(".")[0] == "locust" for a in node.names)
    return isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "locust" and not node.level
