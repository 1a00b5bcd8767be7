"""How the packages meet: the command line outside the library, models independent of training, no private
name borrowed from another package, and one definition of each benchmark network."""

import ast
from pathlib import Path

import pytest

import minigan

ROOT = Path(minigan.__file__).parent


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names imported from it) for every import in a file, relative imports resolved."""
    package = ".".join(("minigan",) + path.relative_to(ROOT).parent.parts)
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module) if p)
            found.append((module, [a.name for a in node.names]))
    return found


def modules(under: str = ""):
    for path in sorted((ROOT / under).rglob("*.py")):
        yield path, ".".join(("minigan",) + path.relative_to(ROOT).with_suffix("").parts)


def test_the_library_never_imports_a_command():
    for path, name in modules():
        if name.startswith("minigan.commands") or name == "minigan.__main__":  # the command, and `python -m`
            continue
        for module, names in imports(path):
            assert not module.startswith("minigan.commands"), f"{name} imports {module}"
            assert not (module == "minigan" and "commands" in names), f"{name} imports minigan.commands"


def test_models_do_not_import_training():
    for path, name in modules("models"):
        for module, _ in imports(path):
            assert not module.startswith("minigan.train"), f"{name} imports {module}"


def test_no_private_name_is_imported_from_another_package():
    for path, name in modules():
        package = name.rsplit(".", 1)[0] if path.name != "__init__.py" else name
        for module, names in imports(path):
            if not module.startswith("minigan"):
                continue
            source_package = module if (ROOT.parent / module.replace(".", "/") / "__init__.py").exists() else \
                module.rsplit(".", 1)[0]
            for imported in names:
                if imported.startswith("_") and source_package != package:
                    pytest.fail(f"{name} imports the private {imported} from {module}")


def test_the_benchmark_networks_are_the_models_networks():
    from minigan.bench.models import networks
    from minigan.models import build

    for model, (name, shape) in (("seed32", ("dcgan", (1, 32, 32))), ("dcgan64", ("dcgan64", (3, 64, 64)))):
        g, d, nz, image = networks(model, width=0.125) if model == "seed32" else networks(model, ngf=4, ndf=4)
        gan = build(name, shape, **({"width": 0.125} if model == "seed32" else {"ngf": 4, "ndf": 4}))
        assert image == shape and nz == gan.nz
        for ours, theirs in ((g, gan.g), (d, gan.d)):
            assert type(ours) is type(theirs)
            assert {k: v.shape for k, v in ours.state_dict().items()} == \
                {k: v.shape for k, v in theirs.state_dict().items()}
