"""The dashboard's web app: the JSON API and the static page (Starlette).

Every handler is a plain function, so Starlette runs it in its thread pool;
:meth:`ChainView.read` serialises the chain reads. The app only reads: it
holds no key and sends no transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from web3 import Web3

from bflc.chain.web3_ledger import Web3Ledger
from bflc.dashboard import views
from bflc.dashboard.accuracy import NodeReports
from bflc.dashboard.chain import QUOTED_CHARS, ChainView, Unavailable
from bflc.errors import BflcError

if TYPE_CHECKING:
    from bflc.net.network import NetworkFile

STATIC = Path(__file__).parent / "static"
NO_STORE = {"Cache-Control": "no-store"}
MAX_EVENTS = 1_000
DEFAULT_EVENTS = 200
# The values of ``all=`` (missing: the notable events only).
FLAGS = {None: False, "": False, "0": False, "false": False, "1": True, "true": True}
# Rounds are uint256 in the contract: a number with more digits cannot be one.
MAX_ROUND_DIGITS = 78
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
        ``/api/snapshot``), ``/static/...`` the page's script and style. Every
        error is a JSON answer ``{"error": "one line", "code": ...}``: 400 for
        a malformed parameter, 404 for a round, node or path that does not
        exist, 503 (with ``endpoint``) while the chain cannot be read.
    """

    def api(parse: Callable[[Request], Callable[[ChainView], dict[str, Any]]]) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            try:
                document = view.read(parse(request))  # parse first: a bad request never reads the chain
            except BadRequest as exc:
                return _error(400, "bad_request", exc)
            except views.NotFound as exc:
                return _error(404, "not_found", exc)
            except Unavailable as exc:
                return _error(503, exc.code, exc, endpoint={"rpc": view.rpc, "healthy": False})
            return JSONResponse(document, headers=NO_STORE)

        return endpoint

    def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=NO_STORE)

    def snapshot(request: Request) -> Callable[[ChainView], dict[str, Any]]:
        text = request.query_params.get("round")
        return partial(views.snapshot, accuracies=accuracies, round=None if text is None else _round(text))

    def events(request: Request) -> Callable[[ChainView], dict[str, Any]]:
        query = request.query_params
        return partial(views.events, everything=_flag(query.get("all")), limit=_limit(query.get("limit")))

    routes = [
        Route("/", page),
        Route("/node/{address}", page),
        Route("/api/overview", api(lambda r: views.overview)),
        Route("/api/rounds/{round}", api(lambda r: partial(views.round_detail, round=_round(r.path_params["round"])))),
        Route("/api/models", api(lambda r: partial(views.models, accuracies=accuracies))),
        Route("/api/nodes", api(lambda r: views.nodes)),
        Route("/api/nodes/{address}", api(lambda r: partial(views.node_detail, address=_address(r.path_params["address"])))),
        Route("/api/events", api(events)),
        Route("/api/decisions", api(lambda r: views.decisions)),
        Route("/api/snapshot", api(snapshot)),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: _http_error})


class BadRequest(BflcError):
    """A path or query parameter of a request is malformed."""


def _error(status: int, code: str, exc: Exception, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": str(exc), "code": code, **extra}, status_code=status, headers=NO_STORE)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (no such path, wrong method) as JSON answers like the API's."""
    assert isinstance(exc, HTTPException)
    code = exc.detail.lower().replace(" ", "_")
    return JSONResponse({"error": f"{exc.detail}: {_quote(request.url.path)}", "code": code}, status_code=exc.status_code, headers=NO_STORE)


def _quote(text: str) -> str:
    """``text`` as an error message quotes a request's words: escaped by ``repr``, at most ``QUOTED_CHARS`` characters."""
    return repr(text if len(text) <= QUOTED_CHARS else text[:QUOTED_CHARS] + "...")


def _digits(name: str, text: str) -> str:
    if not (text.isascii() and text.isdigit()):
        raise BadRequest(f"{name} {_quote(text)} is not a whole number", "write it in decimal digits, e.g. 0 or 12")
    return text


def _round(text: str) -> int:
    if len(_digits("round", text)) > MAX_ROUND_DIGITS:
        raise views.NotFound(f"round {_quote(text)} cannot exist", "rounds are 256-bit numbers")
    return int(text)


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_EVENTS
    digits = _digits("limit", text).lstrip("0")
    return MAX_EVENTS if len(digits) > len(str(MAX_EVENTS)) else min(MAX_EVENTS, int(digits or "0"))


def _flag(text: str | None) -> bool:
    if text not in FLAGS:
        raise BadRequest(f"all {_quote(str(text))} is not a flag", "use all=1 or all=0")
    return FLAGS[text]


def _address(text: str) -> str:
    if not Web3.is_address(text):
        raise BadRequest(f"{_quote(text)} is not an address", "give a 0x-prefixed, 40-hex-digit address")
    return Web3.to_checksum_address(text)
