"""No SQL is built from input: every raw query in the apps has a constant text and passes its
values as parameters (or composes with psycopg's ``sql`` module, which quotes identifiers).

ruff's S608 catches the obvious cases where a query string is built; this test also follows a
query held in a variable to the assignments that built it, and covers ``.raw()``, ``.extra()``,
``RawSQL()`` and ``cursor.execute()`` / ``executemany()`` across the apps and the config.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("tickets", "insights", "roadmap", "config")
RAW_SQL_METHODS = {"raw", "extra", "execute", "executemany"}
# Reviewed places whose SQL text is built, but only from our own code, never from request input:
# (path, function) -> why. A new entry needs a reason a reviewer can check.
REVIEWED: dict[tuple[str, str], str] = {
    ("roadmap/selectors.py", "_rows_cached"): (
        "SET LOCAL work_mem takes no bind parameters; the value is the module constant DEMAND_WORK_MEM"
    ),
    ("roadmap/services.py", "_demand_rows_insert"): (
        "the table name comes from the model's _meta and the SELECT from Django's compiler "
        "(sql_with_params), whose values are passed as parameters"
    ),
}


def _python_files() -> Iterator[Path]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def _is_sql_composition(node: ast.expr) -> bool:
    """``sql.SQL("... {} ...").format(sql.Identifier(name))`` and friends: psycopg quotes the parts."""
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in {"format", "join"}:
        node = node.func.value
    if isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        return name in {"SQL", "Composed", "Identifier", "Literal"}
    return False


def _is_constant_text(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):  # "..." "..." split over lines
        return _is_constant_text(node.left) and _is_constant_text(node.right)
    return False


def _built_from_values(node: ast.expr) -> bool:
    """An f-string with values, ``%`` or ``+`` with a non-constant, or ``.format()`` of a string."""
    if _is_sql_composition(node):
        return False
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(part, ast.FormattedValue) for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
        return not (_is_constant_text(node.left) and _is_constant_text(node.right))
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"


def _assignments(scope: ast.AST, name: str) -> Iterator[ast.expr]:
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            yield node.value
        elif (
            isinstance(node, (ast.AnnAssign, ast.AugAssign))
            and isinstance(node.target, ast.Name)
            and node.target.id == name
            and node.value is not None
        ):
            # "query += f'...'" builds the text as much as "query = query + f'...'" does.
            yield node.value if isinstance(node, ast.AnnAssign) else ast.BinOp(ast.Name(name), ast.Add(), node.value)


def _query_texts(call: ast.Call) -> list[ast.expr]:
    """The arguments of a raw SQL call that hold SQL text (not its parameters)."""
    if not (isinstance(call.func, ast.Attribute) and call.func.attr == "extra"):
        return call.args[:1]
    texts: list[ast.expr] = list(call.args[:1])
    for keyword in call.keywords:
        if keyword.arg in {"select", "where", "tables", "order_by"}:
            value = keyword.value
            if isinstance(value, (ast.List, ast.Tuple)):
                texts.extend(value.elts)
            elif isinstance(value, ast.Dict):
                texts.extend(value.values)
            else:
                texts.append(value)
    return texts


def _is_built(scope: ast.AST, query: ast.expr) -> bool:
    if isinstance(query, ast.Name):
        return any(_built_from_values(value) for value in _assignments(scope, query.id))
    return _built_from_values(query)


def _raw_sql_calls(tree: ast.Module) -> Iterator[tuple[ast.AST, ast.Call]]:
    """(enclosing function or module, call) for every call that runs SQL text it is given."""
    scopes: list[ast.AST] = [tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))]
    seen: set[int] = set()
    for scope in reversed(scopes):  # innermost first
        for node in ast.walk(scope):
            if not isinstance(node, ast.Call) or id(node) in seen:
                continue
            func = node.func
            if (isinstance(func, ast.Attribute) and func.attr in RAW_SQL_METHODS) or (
                isinstance(func, ast.Name) and func.id == "RawSQL"
            ) or (isinstance(func, ast.Attribute) and func.attr == "RawSQL"):
                seen.add(id(node))
                yield scope, node


def _findings(path: Path) -> Iterator[tuple[str, str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    relative = str(path.relative_to(ROOT))
    for scope, call in _raw_sql_calls(tree):
        function = getattr(scope, "name", "<module>")
        if any(_is_built(scope, query) for query in _query_texts(call)) and (relative, function) not in REVIEWED:
            yield relative, function, call.lineno


def test_no_raw_query_text_is_built_from_values() -> None:
    findings = [finding for path in _python_files() for finding in _findings(path)]

    assert findings == [], "SQL text built from values; pass them as parameters or use psycopg.sql: " + repr(findings)


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ('cursor.execute(f"SELECT * FROM t WHERE id = {ticket_id}")', True),
        ('cursor.execute("SELECT * FROM t WHERE id = %s" % ticket_id)', True),
        ('cursor.execute("SELECT * FROM t WHERE name = \'" + name + "\'")', True),
        ('cursor.execute("SELECT * FROM {}".format(table))', True),
        ('query = f"DELETE FROM t WHERE id = {pk}"\ncursor.execute(query)', True),
        ('Ticket.objects.raw(f"SELECT * FROM t WHERE id = {pk}")', True),
        ('qs.extra(where=["id = %s"])', False),
        ('qs.extra(where=["id = " + pk])', True),
        ('qs.extra(select={"n": f"SELECT {column}"})', True),
        ('RawSQL("SELECT %s" % field, ())', True),
        ('cursor.execute("SELECT * FROM t WHERE id = %s", [ticket_id])', False),
        ('cursor.execute("SELECT * FROM t " "WHERE id = %s", [ticket_id])', False),
        ('cursor.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))', False),
        ('cursor.execute(f"SELECT 1")', False),
    ],
)
def test_the_scan_tells_built_queries_from_parameterised_ones(tmp_path: Path, source: str, flagged: bool) -> None:
    module = ast.parse("def view():\n" + "".join(f"    {line}\n" for line in source.splitlines()))
    scope, call = next(_raw_sql_calls(module))

    assert any(_is_built(scope, query) for query in _query_texts(call)) is flagged


def test_every_reviewed_exception_still_exists() -> None:
    """A reviewed entry whose code was fixed or moved must go, or it would excuse a new finding."""
    present = {(str(path.relative_to(ROOT)), getattr(scope, "name", "<module>"))
               for path in _python_files() for scope, _ in _raw_sql_calls(ast.parse(path.read_text()))}
    assert set(REVIEWED) <= present
