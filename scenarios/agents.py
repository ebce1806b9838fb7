"""A plain Locust user class, as a team would already have it: loadkit runs it unchanged."""

from locust import FastHttpUser, between, task


class AgentUser(FastHttpUser):
    """A support agent: lists the queue, opens tickets."""

    wait_time = between(0.2, 0.6)

    @task(3)
    def queue(self) -> None:
        self.client.get("/tickets?limit=20", name="agent-queue")

    @task(1)
    def open_ticket(self) -> None:
        with self.client.get("/tickets/42", name="agent-ticket", catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"ticket 42: status {resp.status_code}")
