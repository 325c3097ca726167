"""Names a cell reads but never defines: in the notebook they resolve, in a Lambda sandbox they are
a NameError at invoke time, because the sandbox runs the cell's source alone."""
from __future__ import annotations

import ast
import builtins
import symtable
from typing import Any, Iterator, Mapping

# IPython's own names in user_ns; a function cannot mean them
IPYTHON_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython"})


def _scopes(table: symtable.SymbolTable) -> Iterator[symtable.SymbolTable]:
    yield table
    for child in table.get_children():
        yield from _scopes(child)


def global_reads(source: str) -> set[str]:
    """Global names that ``source`` reads in any scope and never binds at module level
    (assignment, import, def, class, or ``global`` + assignment in a function), minus builtins.

    Raises SyntaxError for code that does not compile."""
    top = symtable.symtable(source, "<cell>", "exec")
    read: set[str] = set()
    bound: set[str] = set()
    for scope in _scopes(top):
        module_level = scope is top
        for symbol in scope.get_symbols():
            name = symbol.get_name()
            if module_level and (symbol.is_assigned() or symbol.is_imported()):
                bound.add(name)
            elif symbol.is_declared_global() and symbol.is_assigned():
                bound.add(name)
            if symbol.is_referenced() and (module_level or symbol.is_global()):
                read.add(name)
    return read - bound - set(dir(builtins))


def _has_star_import(source: str) -> bool:
    return any(isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)
               for node in ast.walk(ast.parse(source)))


def undefined_names(source: str, namespace: Mapping[str, Any]) -> list[str]:
    """Sorted names ``source`` reads without defining that exist in the notebook's ``namespace``.

    Private names (``_x``) and IPython's In/Out/exit/quit/get_ipython are ignored; so is a cell
    with ``from m import *``, which may define anything. Code with a syntax error yields []."""
    try:
        reads = global_reads(source)
        if reads and _has_star_import(source):
            return []
    except SyntaxError:
        return []
    return sorted(n for n in reads
                  if n in namespace and not n.startswith("_") and n not in IPYTHON_NAMES)


def undefined_names_message(function: str, names: list[str]) -> str:
    listed = ", ".join(names)
    return (f"Warning: function {function!r} uses {listed} from the notebook without defining or "
            f"importing {'it' if len(names) == 1 else 'them'} in the cell. The Lambda sandbox runs "
            "only the cell's code, so this is a NameError at invoke time: define or import "
            f"{'it' if len(names) == 1 else 'them'} in the cell, or pass the value in the event.")


def deploy_warnings(function: str, source: str, namespace: Mapping[str, Any]) -> list[str]:
    """What to tell the user about a cell being deployed as ``function``, before any invoke."""
    try:
        compile(source, "<cell>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        # Lambda accepts the upload and fails every invoke; say so now, not at the first invoke
        return [f"Warning: function {function!r} has a syntax error ({exc.msg}, line {exc.lineno}); "
                "every invocation will fail with Runtime.UserCodeSyntaxError"]
    names = undefined_names(source, namespace)
    return [undefined_names_message(function, names)] if names else []
