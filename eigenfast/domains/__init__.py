"""Environment runtime: toolkits over copy-on-write DB stores, the tau² loader and its domains."""

from eigenfast.domains.environment import Environment, ReplayMismatch
from eigenfast.domains.loader import Domain, get_spec, load_tau2
from eigenfast.domains.spec import DomainSpec, file_policy
from eigenfast.domains.store import Base, Store
from eigenfast.domains.toolkit import ToolError, Toolkit, ToolResult, function, tool

__all__ = [
    "Base",
    "Domain",
    "DomainSpec",
    "Environment",
    "ReplayMismatch",
    "Store",
    "ToolError",
    "ToolResult",
    "Toolkit",
    "file_policy",
    "function",
    "get_spec",
    "load_tau2",
    "tool",
]
