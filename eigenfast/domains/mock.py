"""tau²'s `mock` domain: a tiny task tracker (agent tools) and a notification tray (user tools).

It exists to test the runtime end to end on something small: one write that creates a record with a derived
id, one that updates a field, a read, a non-replayed transfer, and a user-side write on a second DB.
"""

from __future__ import annotations

from typing import Any, Literal

from eigenfast.domains.spec import DomainSpec
from eigenfast.domains.toolkit import ToolError, Toolkit, tool

TaskStatus = Literal["pending", "completed"]


class MockTools(Toolkit):
    """The agent's side: users and their tasks (`db.json`: `tasks`, `users`, each keyed by id)."""

    @tool("write")
    def create_task(self, user_id: str, title: str, description: str | None = None) -> dict[str, Any]:
        """Create a task for a user; it starts as pending.

        Args:
            user_id: Id of the user who will own the task.
            title: Short title of the task.
            description: Longer text about the task, if any.
        """
        if user_id not in self.db.data["users"]:
            raise ToolError(f"User {user_id} not found")
        task_id = f"task_{len(self.db.data['tasks']) + 1}"
        task = {"task_id": task_id, "title": title, "description": description, "status": "pending"}
        self.db.edit("tasks")[task_id] = task
        self.db.edit("users", user_id, "tasks").append(task_id)
        return dict(task)

    @tool("read")
    def get_users(self) -> list[dict[str, Any]]:
        """List every user with the ids of their tasks."""
        return list(self.db.data["users"].values())

    @tool("write")
    def update_task_status(self, task_id: str, status: TaskStatus) -> dict[str, Any]:
        """Set a task's status.

        Args:
            task_id: Id of the task to change.
            status: The new status, "pending" or "completed".
        """
        if task_id not in self.db.data["tasks"]:
            raise ToolError(f"Task {task_id} not found")
        task = self.db.edit("tasks", task_id)
        task["status"] = status
        return dict(task)

    @tool("generic", mutates_state=False)
    def transfer_to_human_agents(self, summary: str) -> str:
        """Hand the conversation to a human agent, with a summary of the user's issue.

        Args:
            summary: What the user needs and what has been done so far.
        """
        return "Transfer successful"


class MockUserTools(Toolkit):
    """The user's side: notifications on their device (`user_db.json`: `notifications` keyed by id)."""

    @tool("read")
    def check_notifications(self) -> list[dict[str, Any]]:
        """Show the notifications on the user's device."""
        return list(self.db.data["notifications"].values())

    @tool("write")
    def dismiss_notification(self, notification_id: str) -> str:
        """Dismiss one notification.

        Args:
            notification_id: Id of the notification to dismiss.
        """
        if notification_id not in self.db.data["notifications"]:
            raise ToolError(f"Notification {notification_id} not found")
        self.db.edit("notifications", notification_id)["status"] = "dismissed"
        return f"Notification {notification_id} dismissed"


SPEC = DomainSpec(name="mock", db_file="db.json", agent_tools=MockTools, user_db_file="user_db.json",
                  user_tools=MockUserTools)

__all__ = ["MockTools", "MockUserTools", "SPEC"]
