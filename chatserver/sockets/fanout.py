"""Fan-out between nodes: python-socketio's Redis manager, publishing on the lean connection."""

from __future__ import annotations

from typing import Any

import socketio

from chatserver.relay.state.resp import RespError, connect_url


class FastRedisManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    """python-socketio's Redis manager, publishing on a lean pipelined connection where the URL
    allows (chatserver/state/resp.py): every emit is one publish, so this is on the path of
    every envelope. Receiving stays the library's; so does publishing if the lean path fails.
    """

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.fast = connect_url(url)

    async def _publish(self, data: Any) -> Any:
        if self.fast is not None:
            try:
                return await self.fast.call("PUBLISH", self.channel, self.json.dumps(data))
            except (RespError, OSError):
                pass
        return await super()._publish(data)
