"""OTP supervision: child specs, supervisors, dynamic supervisors, the application.

Example::

    from bitnexus.supervision import ChildSpec, Supervisor, Strategy

    sup = await node.start(Supervisor, [ChildSpec.for_actor(Worker, id="w")],
                           strategy=Strategy.ONE_FOR_ONE)
"""

from bitnexus.supervision.application import Application
from bitnexus.supervision.dynamic import DynamicSupervisor
from bitnexus.supervision.spec import (
    BRUTAL_KILL,
    INFINITY,
    ChildSpec,
    ChildType,
    InvalidChildSpec,
    Restart,
    Strategy,
)
from bitnexus.supervision.supervisor import ChildInfo, Supervisor, SupervisorError
from bitnexus.supervision.tree import TreeNode, supervision_tree

__all__ = [
    "BRUTAL_KILL",
    "INFINITY",
    "Application",
    "ChildInfo",
    "ChildSpec",
    "ChildType",
    "DynamicSupervisor",
    "InvalidChildSpec",
    "Restart",
    "Strategy",
    "Supervisor",
    "SupervisorError",
    "TreeNode",
    "supervision_tree",
]
