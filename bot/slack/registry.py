"""`LaunchPadApp`: the Bolt App whose every listener is wrapped by the error reporting as it is registered.

Listener groups register the normal way (`@app.command(...)`, `@app.view(...)`, ...). Every one of
those decorators ends in `App._register_listener`; this subclass wraps each function there with
`reporting.reported` (errors after the ack reported, post-ack work bounded by the `AfterAckPool`), so
a listener added tomorrow is covered without anyone remembering a decorator. `listener_functions`
lists what is registered, for the test that holds every one of them to it. Overriding a private Bolt
method is the price; `tests/slack/test_registry.py` fails if Bolt stops calling it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from slack_bolt import App

from bot.slack.afterack import AfterAckPool
from bot.slack.reporting import reported


class LaunchPadApp(App):
    def __init__(self, *args: Any, after_ack: AfterAckPool | None = None, **kwargs: Any) -> None:
        self.after_ack = after_ack
        super().__init__(*args, **kwargs)

    def _register_listener(self, functions: Sequence[Callable[..., Any]], primary_matcher: Any,
                           matchers: Any, middleware: Any, auto_acknowledgement: bool = False,
                           ack_timeout: int = 3) -> Any:
        wrapped = [reported(fn, pool=self.after_ack, acked=auto_acknowledgement) for fn in functions]
        super()._register_listener(wrapped, primary_matcher, matchers, middleware, auto_acknowledgement,
                                   ack_timeout)
        return functions[0] if len(functions) == 1 else None  # a decorator hands back the function as written

    def listener_functions(self) -> list[Callable[..., Any]]:
        """Every registered listener function (ack and lazy ones), as Bolt will call them."""
        found: list[Callable[..., Any]] = []
        for listener in self._listeners:
            found.append(listener.ack_function)
            found += list(getattr(listener, "lazy_functions", []))
        return found
