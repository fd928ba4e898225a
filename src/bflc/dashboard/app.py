"""The dashboard's web app: the JSON API and the static page (Starlette).

Every handler is a plain function, so Starlette runs it in its thread pool;
:meth:`ChainView.read` serialises the chain reads. The app only reads: it
holds no key and sends no transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bflc.chain.web3_ledger import Web3Ledger
from bflc.dashboard import views
from bflc.dashboard.accuracy import NodeReports
from bflc.dashboard.chain import ChainView, Unavailable

if TYPE_CHECKING:
    from bflc.net.network import NetworkFile

STATIC = Path(__file__).parent / "static"
NO_STORE = {"Cache-Control": "no-store"}
MAX_EVENTS = 1_000
# Seconds one JSON-RPC request may take: a hung node shows as a banner soon.
RPC_TIMEOUT = 5.0


def network_app(network: NetworkFile, nodes_dir: Path | None = None) -> Starlette:
    """The dashboard of the network a network file describes.

    Parameters
    ----------
    network:
        The network file: RPC URL, chain id, contract address, deployment block.
    nodes_dir:
        A folder of node state directories whose logs give each model's
        accuracy (``None``: no accuracy).
    """
    from bflc.net.connect import open_web3

    def connect() -> Web3Ledger:
        return Web3Ledger(open_web3(network.rpc, chain_id=network.chain_id, timeout=RPC_TIMEOUT), network.contract)

    view = ChainView(connect, rpc=network.rpc, address=network.contract, deployed_block=network.deployed_block)
    return create_app(view, NodeReports(nodes_dir))


def create_app(view: ChainView, accuracies: NodeReports) -> Starlette:
    """The dashboard app over ``view``.

    Parameters
    ----------
    view:
        The network to show.
    accuracies:
        Where model accuracies come from.

    Returns
    -------
    Starlette
        An ASGI app: ``/`` and ``/node/{address}`` serve the page, ``/api/...``
        the JSON documents of :mod:`bflc.dashboard.views` (the page polls
        ``/api/snapshot``), ``/static/...`` the page's script and style.
    """

    def api(handler: Callable[[ChainView, Request], dict[str, Any]]) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            try:
                document = view.read(lambda v: handler(v, request))
            except Unavailable as exc:
                return _error(503, exc.code, exc)
            except views.NotFound as exc:
                return _error(404, "not_found", exc)
            return JSONResponse(document, headers=NO_STORE)

        return endpoint

    def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=NO_STORE)

    def snapshot(v: ChainView, request: Request) -> dict[str, Any]:
        text = request.query_params.get("round", "")
        return views.snapshot(v, accuracies, round=int(text) if text.isdigit() else None)

    def events(v: ChainView, request: Request) -> dict[str, Any]:
        everything = request.query_params.get("all", "") in ("1", "true")
        limit = _int(request.query_params.get("limit"), default=200, low=0, high=MAX_EVENTS)
        return views.events(v, everything=everything, limit=limit)

    routes = [
        Route("/", page),
        Route("/node/{address}", page),
        Route("/api/overview", api(lambda v, r: views.overview(v))),
        Route("/api/rounds/{round:int}", api(lambda v, r: views.round_detail(v, r.path_params["round"]))),
        Route("/api/models", api(lambda v, r: views.models(v, accuracies))),
        Route("/api/nodes", api(lambda v, r: views.nodes(v))),
        Route("/api/nodes/{address}", api(lambda v, r: views.node_detail(v, r.path_params["address"]))),
        Route("/api/events", api(events)),
        Route("/api/snapshot", api(snapshot)),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes)


def _error(status: int, code: str, exc: Exception) -> JSONResponse:
    hint = getattr(exc, "hint", None)
    body = {"error": {"code": code, "message": getattr(exc, "message", str(exc)), "hint": hint}}
    return JSONResponse(body, status_code=status, headers=NO_STORE)


def _int(text: str | None, *, default: int, low: int, high: int) -> int:
    try:
        return min(high, max(low, int(text))) if text is not None else default
    except ValueError:
        return default
