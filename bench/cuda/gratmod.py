"""Imports the Python package of a `gratc compile --target cuda` folder (pyproject.toml and
grat_<pattern>/ inside) without installing it, under a name of the caller's choosing: bench
cases share package names, so each is imported as its own module (its relative imports and its
torch.library namespace, the kernel's name, keep them apart)."""
import importlib.util
import os
import sys


def load(folder, module, name=None):
    """The package `module` of `folder`, imported as `name` (default: `module`)."""
    name = name or module
    for old in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[old]  # a fresh copy: its own submodules, library cache and ops
    pkg = os.path.join(folder, module)
    if os.path.exists(pkg + ".py") and not os.path.isdir(pkg):
        # a folder of gratc before the package layout (one loader file; add_baseline.sh's "old" kernels)
        spec = importlib.util.spec_from_file_location(name, pkg + ".py")
    else:
        spec = importlib.util.spec_from_file_location(name, os.path.join(pkg, "__init__.py"), submodule_search_locations=[pkg])
    m = importlib.util.module_from_spec(spec)
    sys.modules[name] = m
    spec.loader.exec_module(m)
    return m


def load_code(folder, module, var="m"):
    """Python source that loads it as `var` (for `python -c` children)."""
    here = os.path.dirname(os.path.abspath(__file__))
    return f"import sys; sys.path.insert(0, {here!r}); import gratmod; {var} = gratmod.load({folder!r}, {module!r}, {var!r})"
