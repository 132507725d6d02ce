"""What `bicep build` refuses, checked without the compiler (none is reachable here).

Every rule is one of the compiler's errors, checked on the tree-sitter-bicep syntax tree:

- parse errors (the grammar's ERROR / MISSING nodes; BCP007, BCP018, ...);
- a key declared twice in one object, compared case-insensitively (BCP025);
- a symbol declared twice (BCP028);
- a reference to a symbol that is declared nowhere: parameters, variables, resources,
  modules, imports, types, loop variables and lambda parameters in their scope (BCP057),
  a function that is neither built in nor user-defined (BCP082), `<module>.outputs.<x>` for
  an output the module does not declare (BCP053);
- a module given a parameter it does not declare (BCP037) or missing a required one (BCP035),
  a module file that does not exist (BCP091);
- a resource without `name` (BCP035).

Sources: Bicep diagnostics codes, learn.microsoft.com/azure/azure-resource-manager/bicep/
diagnostics/; the built-in functions, .../bicep/bicep-functions (the `sys` and `az`
namespaces of Azure/bicep src/Bicep.Core/Semantics/Namespaces/*NamespaceType.cs); user-defined
functions cannot see the file's parameters or variables (.../bicep/user-defined-functions,
"Limitations").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

Node = Any  # tree_sitter.Node

# The `sys` and `az` namespaces (bicep-functions, "Bicep functions" by category).
_BUILTIN_NAMES = """
    any array concat contains empty first flatten indexOf intersection items last lastIndexOf
    length max min range skip take union parseCidr cidrSubnet cidrHost dateTimeAdd
    dateTimeFromEpoch dateTimeToEpoch utcNow deployer deployment environment loadFileAsBase64
    loadJsonContent loadYamlContent loadTextContent filter groupBy map mapValues reduce sort
    toObject bool int json objectKeys shallowMerge tryGet getSecret readEnvironmentVariable
    externalInput extensionResourceId managementGroupResourceId pickZones providers reference
    resourceId subscriptionResourceId tenantResourceId toLogicalZone toPhysicalZone
    managementGroup resourceGroup subscription tenant base64 base64ToJson base64ToString
    dataUri dataUriToString endsWith format guid join newGuid padLeft replace split startsWith
    string substring toLower toUpper trim uniqueString uri uriComponent uriComponentToString
    buildUri parseUri fail
"""
BUILTIN_FUNCTIONS = frozenset(_BUILTIN_NAMES.split())
# ARM's list* functions (listKeys, listSecrets, ...) may be called by name as well.
LIST_FUNCTION = re.compile(r"list[A-Z]\w*")
NAMESPACES = frozenset({"sys", "az"})
DECLARATIONS = frozenset(
    {
        "parameter_declaration",
        "variable_declaration",
        "resource_declaration",
        "module_declaration",
        "type_declaration",
        "user_defined_function",
    }
)


def parser() -> Any:
    import tree_sitter
    import tree_sitter_bicep

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_bicep.language()))


def kids(node: Node) -> list[Node]:
    return [child for child in node.named_children if child.type != "comment"]


def text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", "replace")


def line(node: Node) -> int:
    return int(node.start_point[0]) + 1


def key_of(prop: Node) -> str | None:
    """The key of an object property (an identifier or a quoted string), None for a nested
    resource declaration."""
    children = kids(prop)
    if not children or children[0].type not in ("identifier", "string"):
        return None
    key = children[0]
    if key.type == "string":
        return "".join(text(part) for part in key.named_children)
    return text(key)


def body_object(declaration: Node) -> Node | None:
    """The object of a resource or module body, through `if (...)` and `[for ...: ...]`."""
    node = kids(declaration)[-1]
    while node is not None and node.type in ("if_statement", "for_statement"):
        node = kids(node)[-1]
    return node if node is not None and node.type == "object" else None


def property_value(obj: Node, name: str) -> Node | None:
    for prop in kids(obj):
        if prop.type == "object_property" and key_of(prop) == name:
            return kids(prop)[-1]
    return None


class Module:
    """A parsed .bicep file: its declarations, as a caller sees them."""

    def __init__(self, source: bytes) -> None:
        self.tree = parser().parse(source)
        self.root = self.tree.root_node
        self.params: dict[str, bool] = {}  # name -> required
        self.outputs: set[str] = set()
        for node in kids(self.root):
            if node.type == "parameter_declaration":
                children = kids(node)
                has_default = len(children) > 2
                nullable = any(c.type == "nullable_type" for c in kids(children[1]))
                self.params[text(children[0])] = not (has_default or nullable)
            elif node.type == "output_declaration":
                self.outputs.add(text(kids(node)[0]))


ModuleLoader = Callable[[str], bytes | None]


def check(source: bytes, path: str = "<source>", load: ModuleLoader | None = None) -> list[str]:
    """Every problem `bicep build` would report for one file, as 'path:line: message'.
    `load(relative_path)` returns a module's source (None when there is no such file)."""
    return Checker(source, path, load).run()


def check_file(path: Path) -> list[str]:
    def load(relative: str) -> bytes | None:
        target = path.parent / relative
        return target.read_bytes() if target.is_file() else None

    return check(path.read_bytes(), str(path), load)


class Checker:
    def __init__(self, source: bytes, path: str, load: ModuleLoader | None) -> None:
        self.module = Module(source)
        self.path = path
        self.load = load or (lambda _relative: None)
        self.problems: list[str] = []
        self.symbols: dict[str, int] = {}
        self.types: set[str] = set()
        self.functions: set[str] = set()
        self.modules: dict[str, Module | None] = {}

    def report(self, node: Node, message: str) -> None:
        self.problems.append(f"{self.path}:{line(node)}: {message}")

    def run(self) -> list[str]:
        self.syntax(self.module.root)
        self.declarations()
        self.duplicate_keys(self.module.root)
        for node in kids(self.module.root):
            self.top_level(node)
        for node in kids(self.module.root):
            if node.type == "module_declaration":
                self.module_call(node)
            elif node.type == "resource_declaration":
                self.resource_name(node)
        return self.problems

    # -- the grammar ---------------------------------------------------------------------

    def syntax(self, root: Node) -> None:
        stack = [root]
        while stack:
            node = stack.pop()
            if node.is_error or node.is_missing:
                self.report(node, f"syntax error at {text(node)[:40]!r}")
            stack.extend(node.children)

    # -- declarations (BCP028) -----------------------------------------------------------

    def declarations(self) -> None:
        outputs: dict[str, int] = {}
        for node in kids(self.module.root):
            names: list[Node] = []
            kind = node.type
            if kind in DECLARATIONS:
                names = [kids(node)[0]]
            elif kind == "import_functionality":
                names = [c for c in kids(node) if c.type == "identifier"]
            elif kind == "output_declaration":
                name = text(kids(node)[0])
                if name in outputs:
                    self.report(node, f"output '{name}' declared twice (line {outputs[name]})")
                outputs.setdefault(name, line(node))
            for name_node in names:
                name = text(name_node)
                if name in self.symbols:
                    first = self.symbols[name]
                    self.report(node, f"'{name}' declared twice (first at line {first}): BCP028")
                self.symbols.setdefault(name, line(node))
                if kind == "type_declaration":
                    self.types.add(name)
                elif kind == "user_defined_function":
                    self.functions.add(name)
                elif kind == "import_functionality":
                    self.types.add(name)
                    self.functions.add(name)
            if kind == "module_declaration":
                path_node = kids(node)[1]
                relative = "".join(text(part) for part in path_node.named_children)
                loaded = None
                if not re.match(r"^(br|ts)[:/]", relative):
                    source = self.load(relative)
                    if source is None:
                        self.report(node, f"module file '{relative}' not found: BCP091")
                    else:
                        loaded = Module(source)
                self.modules[text(kids(node)[0])] = loaded

    # -- duplicate keys (BCP025) ---------------------------------------------------------

    def duplicate_keys(self, root: Node) -> None:
        stack = [root]
        while stack:
            node = stack.pop()
            if node.type == "object":
                seen: dict[str, int] = {}
                for prop in kids(node):
                    key = key_of(prop) if prop.type == "object_property" else None
                    if key is None:
                        continue
                    folded = key.lower()
                    if folded in seen:
                        self.report(prop, f"key '{key}' declared twice in one object "
                                          f"(first at line {seen[folded]}): BCP025")  # fmt: skip
                    seen.setdefault(folded, line(prop))
            stack.extend(node.named_children)

    # -- references (BCP057, BCP082, BCP053) ---------------------------------------------

    def top_level(self, node: Node) -> None:
        scope = set(self.symbols)
        kind = node.type
        if kind in ("parameter_declaration", "variable_declaration", "output_declaration",
                    "resource_declaration", "module_declaration", "type_declaration"):  # fmt: skip
            for child in kids(node)[1:]:
                self.refs(child, scope)
        elif kind == "user_defined_function":
            children = kids(node)
            own = {text(kids(p)[0]) for p in kids(children[1]) if p.type == "parameter"}
            local = own | self.functions | self.types
            for child in children[1:]:
                self.refs(child, local)
        elif kind == "metadata_declaration":
            for child in kids(node)[1:]:
                self.refs(child, scope)
        elif kind in ("decorators", "target_scope_assignment"):
            for child in kids(node):
                self.refs(child, scope)

    def undeclared(self, node: Node, scope: set[str]) -> None:
        name = text(node)
        if name not in scope and name not in NAMESPACES:
            self.report(node, f"'{name}' is not declared: BCP057")

    def call(self, callee: Node, scope: set[str]) -> None:
        if callee.type == "identifier":
            name = text(callee)
            if name in scope and name not in self.functions:
                self.report(callee, f"'{name}' is not a function: BCP265")
            elif not (name in BUILTIN_FUNCTIONS or name in self.functions
                      or LIST_FUNCTION.fullmatch(name)):  # fmt: skip
                self.report(callee, f"function '{name}' does not exist: BCP082")
        elif callee.type == "member_expression":
            target, member = kids(callee)[0], kids(callee)[-1]
            if target.type == "identifier" and text(target) in NAMESPACES:
                if text(member) not in BUILTIN_FUNCTIONS:
                    self.report(member, f"function '{text(member)}' does not exist: BCP082")
            else:
                self.refs(target, scope)
        else:
            self.refs(callee, scope)

    def refs(self, node: Node, scope: set[str]) -> None:
        kind = node.type
        children = kids(node)
        if kind == "identifier":
            self.undeclared(node, scope)
        elif kind in ("property_identifier", "comment", "primitive_type", "string_content"):
            return
        elif kind == "type":
            for child in children:
                self.type_refs(child)
        elif kind == "member_expression":
            self.module_output(node)
            self.refs(children[0], scope)
        elif kind == "resource_expression":
            self.refs(children[0], scope)
        elif kind == "call_expression":
            self.call(children[0], scope)
            for child in children[1:]:
                self.refs(child, scope)
        elif kind == "decorator":
            call = children[0] if children else None
            if call is not None and call.type == "call_expression":
                for child in kids(call)[1:]:
                    self.refs(child, scope)
        elif kind == "arguments":
            for argument in children:
                # tree-sitter-bicep lets `p => p.x` parse as `(p => p).x`: the parameters
                # of a lambda are in scope for its whole argument.
                self.refs(argument, scope | lambda_params(argument))
        elif kind == "lambda_expression":
            params = lambda_params(node, nested=False)
            for child in children[1:]:
                self.refs(child, scope | params)
        elif kind == "for_statement":
            if children[0].type == "for_loop_parameters":
                loop = {text(c) for c in kids(children[0])}
            else:
                loop = {text(children[0])}
            self.refs(children[1], scope)
            for child in children[2:]:
                self.refs(child, scope | loop)
        elif kind == "object":
            nested = {
                text(kids(kids(p)[0])[0])
                for p in children
                if p.type == "object_property"
                and kids(p)
                and kids(p)[0].type == "resource_declaration"
            }
            inner = scope | nested
            for prop in children:
                if prop.type != "object_property":
                    self.refs(prop, inner)
                    continue
                values = kids(prop)
                start = 0 if key_of(prop) is None else 1
                for value in values[start:]:
                    self.refs(value, inner)
        elif kind == "resource_declaration":  # nested in a resource body
            for child in children[1:]:
                self.refs(child, scope)
        else:
            for child in children:
                self.refs(child, scope)

    def type_refs(self, node: Node) -> None:
        if node.type == "identifier":
            if text(node) not in self.types:
                self.report(node, f"type '{text(node)}' is not declared: BCP302")
            return
        for child in kids(node):
            if child.type == "object_property":
                for value in kids(child)[1:]:
                    self.type_refs(value)
            else:
                self.type_refs(child)

    def module_output(self, node: Node) -> None:
        """`<module>.outputs.<name>` (or `<module>[i].outputs.<name>`) names a declared output."""
        target, member = kids(node)[0], kids(node)[-1]
        if target.type != "member_expression" or text(kids(target)[-1]) != "outputs":
            return
        owner = kids(target)[0]
        if owner.type == "subscript_expression":
            owner = kids(owner)[0]
        module = self.modules.get(text(owner)) if owner.type == "identifier" else None
        if module is not None and text(member) not in module.outputs:
            self.report(member, f"module '{text(owner)}' has no output '{text(member)}': BCP053")

    # -- module parameters (BCP037, BCP035) and resource names ---------------------------

    def module_call(self, node: Node) -> None:
        symbol = text(kids(node)[0])
        module = self.modules.get(symbol)
        body = body_object(node)
        if module is None or body is None:
            return
        params = property_value(body, "params")
        passed: set[str] = set()
        if params is not None:
            if params.type != "object":
                return  # computed: only the compiler's types can tell
            passed = {key for p in kids(params) if (key := key_of(p)) is not None}
        for name in sorted(passed - set(module.params)):
            self.report(node, f"module '{symbol}' does not declare parameter '{name}': BCP037")
        required = {name for name, needed in module.params.items() if needed}
        for name in sorted(required - passed):
            self.report(node, f"module '{symbol}' misses required parameter '{name}': BCP035")

    def resource_name(self, node: Node) -> None:
        body = body_object(node)
        if body is not None and property_value(body, "name") is None:
            self.report(node, f"resource '{text(kids(node)[0])}' has no name: BCP035")


def lambda_params(node: Node, *, nested: bool = True) -> set[str]:
    """The parameters of the lambda `node` (nested=False) or of every lambda inside `node`
    that is not itself inside a call's arguments (those get their own scope)."""
    if node.type == "lambda_expression":
        head = kids(node)[0]
        if head.type == "identifier":
            own = {text(head)}
        else:
            own = {text(c) for c in kids(head) if c.type == "identifier"}
        if not nested:
            return own
        return own | set().union(*(lambda_params(c) for c in kids(node)[1:]))
    if not nested or node.type == "arguments":
        return set()
    found: set[str] = set()
    for child in kids(node):
        found |= lambda_params(child)
    return found


def check_files(paths: Iterable[Path]) -> list[str]:
    problems: list[str] = []
    for path in paths:
        problems.extend(check_file(path))
    return problems
