"""The contracts' ABIs, encoded and decoded as web3.py does, without a provider.

Both backends and the ledger's decisions use it: a council decision carries
the calldata of a BFLC call, which the client encodes to propose and decodes
to show.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from eth.abc import ReceiptAPI
from eth_abi.exceptions import DecodingError
from eth_typing import ABIComponent, ABIEvent
from eth_utils.abi import function_abi_to_4byte_selector, get_abi_input_names, get_abi_input_types, get_abi_output_types
from eth_utils.address import to_canonical_address
from hexbytes import HexBytes
from web3 import Web3
from web3._utils.abi import map_abi_data
from web3._utils.normalizers import BASE_RETURN_NORMALIZERS
from web3.contract import Contract
from web3.datastructures import AttributeDict

from bflc.chain.artifact import load_artifact
from bflc.chain.types import ChainEvent
from bflc.errors import ChainError


def event_signature(abi: ABIEvent) -> str:
    """The canonical signature of an event, whose keccak is its first topic."""

    def canonical(param: ABIComponent) -> str:
        if param["type"].startswith("tuple"):
            inner = ",".join(canonical(c) for c in param["components"])
            return f"({inner}){param['type'][5:]}"
        return param["type"]

    return f"{abi['name']}({','.join(canonical(p) for p in abi['inputs'])})"


class Codec:
    """A contract artifact's ABI, encoded and decoded as web3.py does, without a provider.

    Calldata is ``selector + eth_abi.encode(inputs, args)``, the bytes
    web3.py's ``encode_abi`` produces for the ledger's arguments (checksummed
    addresses, bytes, integers, strings and lists of them) without its
    per-call ABI lookup and validation.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.contract: type[Contract] = Web3().eth.contract(abi=load_artifact(name)["abi"])
        self.codec = self.contract.w3.codec
        functions = [e for e in self.contract.abi if e["type"] == "function"]
        self.selectors = {e["name"]: function_abi_to_4byte_selector(e) for e in functions}
        self.by_selector = {selector: name for name, selector in self.selectors.items()}
        self.inputs = {e["name"]: get_abi_input_types(e) for e in functions}
        self.input_names = {e["name"]: [str(n) for n in get_abi_input_names(e)] for e in functions}
        self.outputs = {e["name"]: get_abi_output_types(e) for e in functions}
        self.events_by_topic = {bytes(Web3.keccak(text=event_signature(e))): e["name"] for e in self.contract.abi if e["type"] == "event"}

    def encode(self, function: str, args: tuple[Any, ...]) -> bytes:
        """Calldata of ``function`` called with ``args``: selector and ABI-encoded arguments."""
        return self.selectors[function] + self.codec.encode(self.inputs[function], args)

    def decode_output(self, function: str, output: bytes) -> Any:
        """Decode and normalize as web3.py's ``ContractFunction.call``."""
        types = self.outputs[function]
        decoded = self.codec.decode(types, output)
        normalized = map_abi_data(BASE_RETURN_NORMALIZERS, types, decoded)
        return normalized[0] if len(normalized) == 1 else normalized

    def decode_call(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """The function and named arguments of calldata ``data``, values normalized as in a call's result.

        Raises
        ------
        ChainError
            If no function of this contract has the selector, or the arguments do not decode.
        """
        name = self.by_selector.get(bytes(data[:4]))
        if name is None:
            raise ChainError(f"calldata 0x{bytes(data[:4]).hex()}... calls no function of {self.name}", "check the decision's target")
        types = self.inputs[name]
        try:
            decoded = self.codec.decode(types, bytes(data[4:]))
        except DecodingError as exc:
            raise ChainError(f"calldata of {name} does not decode: {exc}", "check the decision's target") from None
        values = map_abi_data(BASE_RETURN_NORMALIZERS, types, decoded)
        return name, dict(zip(self.input_names[name], values, strict=True))

    def decode_log(self, log: Any, address: str, index: int, tx_hash: bytes, block: int) -> ChainEvent | None:
        """One py-evm log of this contract as web3.py decodes it; ``None`` for a log it did not emit."""
        topics = [HexBytes(t.to_bytes(32, "big")) for t in log.topics]
        name = self.events_by_topic.get(bytes(topics[0])) if topics else None
        if name is None:
            return None
        entry = AttributeDict(
            {
                "address": address,
                "topics": topics,
                "data": HexBytes(log.data),
                "logIndex": index,
                "transactionIndex": 0,
                "transactionHash": HexBytes(tx_hash),
                "blockHash": HexBytes(b""),
                "blockNumber": block,
            }
        )
        decoded = self.contract.events[name]().process_log(entry)
        return ChainEvent(name=name, args=dict(decoded["args"]))


def decode_receipt(receipt: ReceiptAPI, contracts: dict[str, str], tx_hash: bytes, block: int) -> list[tuple[str, ChainEvent]]:
    """The events in a py-evm ``receipt`` of the contracts ``{address: name}``, in log order, each with its emitter's address."""
    by_address = {to_canonical_address(a): (a, name) for a, name in contracts.items()}
    events = []
    for index, log in enumerate(receipt.logs):
        known = by_address.get(log.address)
        if known is not None and (event := codec(known[1]).decode_log(log, known[0], index, tx_hash, block)) is not None:
            events.append((known[0], event))
    return events


@cache
def codec(name: str) -> Codec:
    """The codec of contract ``name`` (``BFLC`` or ``Council``)."""
    return Codec(name)
