"""Deployment packages: the zip a client uploads (CreateFunction, UpdateFunctionCode) and the zip
GetFunction's ``Code.Location`` serves back.

A function here is one Python module (a notebook cell is one), so a zip must hold the module the
handler names — ``lambda_function.py`` for ``lambda_function.handler``, ``pkg/app.py`` for
``pkg.app.main`` — and nothing else but folders, empty ``__init__.py`` files on the module's path
and compiled ``__pycache__`` files. A zip with more files is refused with the list of extras:
silently dropping a helper module would turn into an ImportModuleError at invoke time.
"""
from __future__ import annotations

import io
import re
import zipfile

from ..errors import InvalidParameterValueException

MAX_MODULE_BYTES = 50 * 1024 * 1024
# A Python handler is module.function; dotted identifiers only, so that the module's file name can
# never climb out of the function's code folder.
_HANDLER = re.compile(r"^(?P<module>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\.(?P<function>[A-Za-z_]\w*)$")


def check_handler(handler: object) -> tuple[str, str]:
    """(module, function) of a ``module.function`` handler, or AWS's InvalidParameterValue."""
    match = _HANDLER.match(handler) if isinstance(handler, str) and len(handler) <= 128 else None
    if not match:
        raise InvalidParameterValueException(
            f"Handler {handler!r} is not valid for a Python function: use module.function, e.g. "
            "lambda_function.handler (module and function names are Python identifiers)")
    return match["module"], match["function"]


def module_path(module: str) -> str:
    return module.replace(".", "/") + ".py"


def _ignorable(name: str, module_file: str) -> bool:
    if name.endswith("/") or "__pycache__/" in name or name.endswith(".pyc"):
        return True
    parts = module_file.split("/")[:-1]
    packages = {"/".join(parts[:i + 1]) + "/__init__.py" for i in range(len(parts))}
    return name in packages


def module_source(zip_bytes: bytes, handler: str) -> str:
    """The source of the module ``handler`` names, from the zip's bytes."""
    module, _ = check_handler(handler)
    wanted = module_path(module)
    try:
        archive = zipfile.ZipFile(io.BytesIO(zip_bytes))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError):
        raise InvalidParameterValueException(
            "Could not unzip uploaded file. Please check your file, then try to upload again.") \
            from None
    names = [info.filename.lstrip("./") for info in infos]
    extras = [n for n in names if n != wanted and not _ignorable(n, wanted)]
    if wanted not in names:
        raise InvalidParameterValueException(
            f"The zip has no {wanted} for handler {handler!r} (it holds: "
            f"{', '.join(names[:5]) or 'nothing'}): put the handler's module at the zip's root "
            "or fix Handler")
    if extras:
        shown = ", ".join(extras[:5]) + (f" and {len(extras) - 5} more" if len(extras) > 5 else "")
        raise InvalidParameterValueException(
            f"nblambda deploys single-module functions: the zip holds {wanted} and also {shown}. "
            f"Put the code those files hold into {wanted}, or declare packages as requirements")
    info = infos[names.index(wanted)]
    empty_inits = [i for i, n in zip(infos, names) if n.endswith("__init__.py") and i.file_size]
    if empty_inits:
        raise InvalidParameterValueException(
            f"nblambda deploys single-module functions: {empty_inits[0].filename} has code; "
            f"move it into {wanted}")
    if info.file_size > MAX_MODULE_BYTES:
        raise InvalidParameterValueException(
            f"{wanted} is {info.file_size} bytes unzipped; the limit is {MAX_MODULE_BYTES}")
    try:
        return archive.read(info).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidParameterValueException(f"{wanted} is not UTF-8 text") from None
    except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
        raise InvalidParameterValueException(
            f"Could not unzip uploaded file ({exc}). Please check your file, then try to upload "
            "again.") from None


def package(module: str, source: str) -> bytes:
    """A deployment package holding the function's module, as GetFunction's download serves it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(module_path(module), source)
    return buffer.getvalue()
