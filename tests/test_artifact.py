"""The committed contract artifact is exactly what the source compiles to."""

from bflc.chain.artifact import EVM_VERSION, compile_contract, load_artifact


def test_committed_artifact_matches_source():
    committed = load_artifact()
    fresh = compile_contract()
    assert fresh["bytecode"] == committed["bytecode"]
    assert fresh["deployedBytecode"] == committed["deployedBytecode"]
    assert fresh["abi"] == committed["abi"]
    assert committed["compiler"] == "vyper-0.4.3"
    assert committed["evmVersion"] == EVM_VERSION == "paris"


def test_bytecode_has_no_push0():
    # paris predates PUSH0 (0x5f), which several permissioned chains reject.
    # Scan opcodes, skipping PUSH1..PUSH32 immediates.
    code = bytes.fromhex(load_artifact()["deployedBytecode"].removeprefix("0x"))
    i = 0
    while i < len(code):
        op = code[i]
        assert op != 0x5F, f"PUSH0 at byte {i}"
        i += 1 + (op - 0x5F if 0x60 <= op <= 0x7F else 0)
        if op == 0xFE:  # INVALID marks the start of the data section
            break
