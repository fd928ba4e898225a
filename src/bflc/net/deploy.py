"""Deploying a new BFLC network: genesis model, blob store, contract, network file."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bflc.chain.types import DEFAULT_DECISION_LIFETIME, MAX_MANAGERS, ProtocolParams, majority
from bflc.chain.web3_ledger import RECEIPT_TIMEOUT, ZERO_ADDRESS, LocalSigner, deploy
from bflc.errors import BlobError, ConfigError
from bflc.ml.digits import DIGITS_CLASSES, DIGITS_SHAPE
from bflc.ml.femnist import FEMNIST_CLASSES, FEMNIST_SHAPE
from bflc.net.connect import RPC_TIMEOUT, open_web3
from bflc.net.defaults import SAFE_FILTER
from bflc.net.network import EXTERNAL_MODEL, LearningSettings, NetworkFile, checksum_address

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

DATASET_SHAPES: dict[str, tuple[tuple[int, int, int], int]] = {
    "femnist": (FEMNIST_SHAPE, FEMNIST_CLASSES),
    "digits": (DIGITS_SHAPE, DIGITS_CLASSES),
}
"""Input shape and number of classes of the datasets bflc ships loaders for."""


def store_url(location: str) -> str:
    """``location`` as a URL: a plain path becomes an absolute ``file://`` URL."""
    return location if "://" in location else Path(location).expanduser().absolute().as_uri()


def parse_addresses(text: str, what: str) -> list[str]:
    """Comma-separated addresses, checksummed, without duplicates.

    Raises
    ------
    ConfigError
        If one is malformed or repeated, or none is given.
    """
    addresses = [checksum_address(a.strip(), what) for a in text.split(",") if a.strip()]
    if not addresses:
        raise ConfigError(f"no {what} address given", "pass one or more comma-separated 0x addresses")
    repeated = sorted({a for a in addresses if addresses.count(a) > 1})
    if repeated:
        raise ConfigError(f"{what} address {repeated[0]} is given twice", "list each address once")
    return addresses


def genesis_blob(learning: LearningSettings, genesis: Path | bytes | None = None) -> bytes:
    """The genesis model's safetensors bytes.

    Parameters
    ----------
    learning:
        Model name, input shape, number of classes and seed. With the model
        :data:`~bflc.net.network.EXTERNAL_MODEL` the genesis is any model:
        ``genesis`` is then required and only checked to be a valid,
        canonical model blob.
    genesis:
        A safetensors file, or its bytes, to use instead of fresh weights;
        for one of bflc's models it must fit the model (same tensor names
        and shapes).

    Raises
    ------
    ConfigError
        If the model cannot be built for the settings, the file cannot be
        read, an external model comes without a genesis, or the genesis does
        not fit bflc's model.
    BlobError
        If the genesis is not a valid model blob.
    """
    from bflc.ml.models import build_model, get_parameters
    from bflc.storage import check_header, decode_model, encode_model, model_spec

    data = _read_genesis(genesis)
    if learning.model == EXTERNAL_MODEL:
        if data is None:
            raise ConfigError(
                "an external model needs a genesis model", "pass --flower-client MODULE:FACTORY or --genesis FILE (a .safetensors model)"
            )
        decode_model(data)
        return data
    shape = learning.input_shape
    if len(shape) != 3:
        raise ConfigError(f"input shape {shape} is not (channels, height, width)", "give three sizes, e.g. 1,28,28")
    params = get_parameters(build_model(learning.model, shape, learning.num_classes, seed=learning.model_seed))
    if data is None:
        return encode_model(params)
    decode_model(data)  # a corrupt file is its own error
    try:
        check_header(data, expected=model_spec(params))  # the rest of the blob was checked just above
    except BlobError as error:
        raise ConfigError(
            f"the genesis model is not bflc's {learning.model} for inputs {shape} and {learning.num_classes} classes: {error.message}",
            f"for a model of your own (nodes then run --flower-client), deploy with model {EXTERNAL_MODEL!r} (--model {EXTERNAL_MODEL})",
        ) from None
    return data


def _read_genesis(genesis: Path | bytes | None) -> bytes | None:
    if genesis is None or isinstance(genesis, bytes):
        return genesis
    try:
        return Path(genesis).read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read genesis model {genesis}: {error}", "pass an existing .safetensors file") from None


def deploy_network(
    rpc: str,
    signer: LocalAccount,
    *,
    name: str,
    store: str,
    committee: Sequence[str],
    managers: Sequence[str] | None = None,
    threshold: int | None = None,
    decision_lifetime: int = DEFAULT_DECISION_LIFETIME,
    params: ProtocolParams | None = None,
    learning: LearningSettings | None = None,
    genesis: Path | bytes | None = None,
    timeout: float = RPC_TIMEOUT,
    receipt_timeout: float = RECEIPT_TIMEOUT,
) -> NetworkFile:
    """Deploy a BFLC network and describe it.

    Every input is checked before anything is sent. Then the genesis model
    is put in the blob store (so the chain never points at a missing blob),
    and the contract is deployed with ``signer`` (dry run first).

    Parameters
    ----------
    rpc:
        The chain's JSON-RPC URL.
    signer:
        The deployer's key; it pays for the deployment.
    name:
        The network's name.
    store:
        Blob store URL, or a directory path (made an absolute ``file://`` URL).
    committee:
        The first committee (trusted founders): an odd number between
        ``params.min_committee_size`` and ``params.committee_size``.
    managers:
        The managers (the council's members); by default the deployer alone.
    threshold:
        How many managers must approve a decision; a majority by default.
    decision_lifetime:
        Blocks a proposed decision stays open.
    params:
        Protocol parameters (default: those of :class:`ProtocolParams`,
        qualifying as :data:`bflc.net.defaults.SAFE_FILTER`).
    learning:
        Model and training settings (defaults of :class:`LearningSettings`).
    genesis:
        A safetensors file holding the genesis model, or its bytes; fresh
        weights from ``learning.model_seed`` when ``None`` (see :func:`genesis_blob`).
    timeout, receipt_timeout:
        Seconds per JSON-RPC request, and to wait for the deployment.

    Returns
    -------
    NetworkFile
        The new network, ready for :func:`bflc.net.network.write_network`.

    Raises
    ------
    ConfigError, BlobError
        For an invalid input.
    ChainError, ContractRevert
        If the chain cannot be reached or the deployment fails.
    """
    from bflc.storage import open_store

    params = params or ProtocolParams(**SAFE_FILTER.params())
    committee = [checksum_address(a, "committee member") for a in committee]
    managers = [checksum_address(a, "manager") for a in managers] if managers else [signer.address]
    _check_roles(committee, managers, params)
    threshold = _check_threshold(threshold, managers, decision_lifetime)
    draft = NetworkFile(
        name=name,
        rpc=rpc,
        chain_id=1,
        contract=ZERO_ADDRESS,
        deployed_block=0,
        store=store_url(store),
        learning=learning or LearningSettings(),
    )
    blobs = open_store(draft.store)
    blob = genesis_blob(draft.learning, genesis)
    w3 = open_web3(rpc, timeout=timeout)
    blob_hash = blobs.put(blob)
    sender = LocalSigner(signer, receipt_timeout=receipt_timeout)
    deployment = deploy(
        w3, sender, managers, committee, bytes.fromhex(blob_hash), blobs.uri(blob_hash), params.to_contract(), threshold, decision_lifetime
    )
    return dataclasses.replace(draft, chain_id=int(w3.eth.chain_id), contract=deployment.address, deployed_block=deployment.block)


def check_founders(count: int) -> None:
    """Refuse a first committee of ``count`` members unless it is odd.

    Raises
    ------
    ConfigError
        If ``count`` is 0 or even.
    """
    if not count:
        raise ConfigError("the first committee is empty", "pass --committee with at least one address")
    if count % 2 == 0:
        raise ConfigError(
            f"{count} first committee members: a committee must have an odd number of members",
            "name one founder more or one fewer in --committee; half of an even committee could veto any update",
        )


def _check_roles(committee: list[str], managers: list[str], params: ProtocolParams) -> None:
    check_founders(len(committee))
    if len(committee) > params.committee_size:
        raise ConfigError(
            f"{len(committee)} first committee members but a committee size of {params.committee_size}",
            "raise --committee-size or name fewer members",
        )
    if len(committee) < params.min_committee_size:
        raise ConfigError(
            f"{len(committee)} first committee members but a minimum committee size of {params.min_committee_size}",
            "name more founders or lower --min-committee-size",
        )
    if len(managers) > MAX_MANAGERS:
        raise ConfigError(f"{len(managers)} managers; the contract allows {MAX_MANAGERS}", "name fewer managers")


def _check_threshold(threshold: int | None, managers: list[str], decision_lifetime: int) -> int:
    if len({a.lower() for a in managers}) != len(managers):
        raise ConfigError("a manager is named twice", "name each manager once in --managers")
    if threshold is None:
        threshold = majority(len(managers))
    if not 1 <= threshold <= len(managers):
        raise ConfigError(f"threshold {threshold} for a council of {len(managers)}", f"pass a --threshold between 1 and {len(managers)}")
    if decision_lifetime < 1:
        raise ConfigError(f"decision lifetime {decision_lifetime} blocks", "pass a positive --decision-lifetime")
    return threshold
