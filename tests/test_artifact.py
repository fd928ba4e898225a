"""The committed contract artifacts are exactly what the sources compile to."""

import pytest

from bflc.chain.artifact import CONTRACT_NAMES, EVM_VERSION, compile_contract, load_artifact

# EIP-170: the most runtime bytecode a contract may have on Ethereum and most EVM chains.
MAX_RUNTIME_BYTES = 24_576


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_committed_artifact_matches_source(name):
    committed = load_artifact(name)
    fresh = compile_contract(name)
    assert fresh["bytecode"] == committed["bytecode"]
    assert fresh["deployedBytecode"] == committed["deployedBytecode"]
    assert fresh["abi"] == committed["abi"]
    assert committed["compiler"] == "vyper-0.4.3"
    assert committed["evmVersion"] == EVM_VERSION == "paris"


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_runtime_fits_the_contract_size_limit(name):
    code = bytes.fromhex(load_artifact(name)["deployedBytecode"].removeprefix("0x"))
    assert len(code) <= MAX_RUNTIME_BYTES


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_bytecode_has_no_push0(name):
    # paris predates PUSH0 (0x5f), which several permissioned chains reject.
    # Scan opcodes, skipping PUSH1..PUSH32 immediates.
    code = bytes.fromhex(load_artifact(name)["deployedBytecode"].removeprefix("0x"))
    i = 0
    while i < len(code):
        op = code[i]
        assert op != 0x5F, f"PUSH0 at byte {i}"
        i += 1 + (op - 0x5F if 0x60 <= op <= 0x7F else 0)
        if op == 0xFE:  # INVALID marks the start of the data section
            break
