"""The features of Locust's ``examples/csrf_form_authentication.py``: a token scraped from a form with a
regular expression, a form POST with ``catch_response=True`` that follows the redirect, and
``response.failure()`` when the final URL is not the welcome page."""

import re

from locust import HttpUser, constant_pacing, task

TOKEN = re.compile(r'name="authenticity_token"[^>]*value="([^"]*)"')


class FormUser(HttpUser):
    wait_time = constant_pacing(0.3)

    @task
    def sign_in(self) -> None:
        with self.client.get("/sign-in", catch_response=True) as page:
            match = TOKEN.search(page.text)
            if match is None:
                page.failure("no authenticity token in the form")
                return
        form = {"user[email]": "someone", "user[password]": "secret", "authenticity_token": match.group(1)}
        with self.client.post("/sign-in", form, catch_response=True) as answer:
            if "welcome" not in answer.url:
                answer.failure("sign-in did not lead to the welcome page")
