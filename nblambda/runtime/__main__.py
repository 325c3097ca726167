"""Entry point of a sandbox: ``python3 <runtime dir> zygote FD`` or ``python3 <runtime dir> connect PATH``.

Runs from a bare directory (a bind mount in a container), so it loads its siblings as the package
``nblambda_runtime`` and takes its own directory off ``sys.path``: user code must not see
``protocol`` or ``context`` as top-level modules.
"""
import importlib.util
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
_spec = importlib.util.spec_from_file_location(
    "nblambda_runtime", os.path.join(_here, "__init__.py"), submodule_search_locations=[_here])
_pkg = importlib.util.module_from_spec(_spec)
sys.modules["nblambda_runtime"] = _pkg
_spec.loader.exec_module(_pkg)

if sys.argv[1] == "zygote":
    from nblambda_runtime import zygote
    zygote.main(int(sys.argv[2]))
elif sys.argv[1] == "connect":
    from nblambda_runtime import bootstrap
    bootstrap.connect_and_run(sys.argv[2])
else:
    sys.exit("usage: python3 RUNTIME_DIR (zygote FD | connect SOCKET_PATH)")
