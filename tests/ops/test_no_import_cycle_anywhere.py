"""No import cycle anywhere in the server, the console or the widget, function-level imports
included: the layers contract (import-linter) forbids upward arrows between packages, and this
test forbids cycles inside them too."""

from __future__ import annotations

import grimp


def strongly_connected(graph: grimp.ImportGraph) -> list[set[str]]:
    """Tarjan's algorithm over the module graph; components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0

    def visit(module: str) -> None:
        nonlocal counter
        index[module] = low[module] = counter
        counter += 1
        stack.append(module)
        on_stack.add(module)
        for target in graph.find_modules_directly_imported_by(module):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(component)

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_itself_through_others() -> None:
    graph = grimp.build_graph("chatserver", "counsellor_console", "widget")
    assert len(graph.modules) > 40  # the packages were found
    assert strongly_connected(graph) == []


def test_the_check_finds_a_cycle_when_there_is_one() -> None:
    graph = grimp.build_graph("chatserver", "counsellor_console", "widget")
    graph.add_import(importer="chatserver.config", imported="chatserver.main")
    cycles = strongly_connected(graph)
    assert any({"chatserver.config", "chatserver.main"} <= cycle for cycle in cycles)
