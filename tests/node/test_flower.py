"""FlowerLearner: a Flower NumPyClient as a bflc node's learner."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from bflc.aggregate import fedavg
from bflc.errors import ConfigError
from bflc.ml.flower import FlowerClientError, FlowerLearner, default_names, load_flower_learner
from bflc.ml.learner import Learner
from bflc.ml.models import flatten, unflatten
from bflc.storage.codec import bytes32_to_hash, model_spec
from bflc.storage.store import LocalBlobStore, get_model, put_model
from tests.node.flower_clients import Client, NumPyClient, SoftmaxClient, TinyClient, make_client, softmax_regression_accuracy

SHAPES = [(3, 2), (2,), (4,)]


@pytest.fixture(autouse=True)
def one_blas_thread() -> Iterator[None]:
    """Run NumPy's matrix products on one thread: on a shared 2-core machine a
    second BLAS thread waiting for a descheduled peer made a 10 ms fit take 4 s."""
    with threadpool_limits(limits=1):
        yield


class ScriptedClient(NumPyClient):
    """Answers with what it is given and records what it was called with.

    ``fit_answer``/``evaluate_answer`` replace the default answers; an
    exception as answer is raised instead.
    """

    def __init__(self, *, parameters: Any = None, fit_answer: Any = None, evaluate_answer: Any = None) -> None:
        self.parameters = [np.full(shape, i, dtype=np.float32) for i, shape in enumerate(SHAPES)] if parameters is None else parameters
        self.fit_answer = fit_answer
        self.evaluate_answer = evaluate_answer
        self.calls: list[tuple[str, list[np.ndarray], dict[str, Any]]] = []

    def get_parameters(self, config: dict[str, Any]) -> Any:
        if isinstance(self.parameters, Exception):
            raise self.parameters
        return self.parameters

    def fit(self, parameters: list[np.ndarray], config: dict[str, Any]) -> Any:
        self.calls.append(("fit", parameters, config))
        return self._answer(self.fit_answer, ([array + 1 for array in parameters], 7, {}))

    def evaluate(self, parameters: list[np.ndarray], config: dict[str, Any]) -> Any:
        self.calls.append(("evaluate", parameters, config))
        return self._answer(self.evaluate_answer, (float(parameters[0].sum()), 5, {"accuracy": 0.25}))

    @staticmethod
    def _answer(answer: Any, default: Any) -> Any:
        if isinstance(answer, Exception):
            raise answer
        return default if answer is None else answer


def scripted_params(offset: float = 0.0) -> dict[str, np.ndarray]:
    return {name: np.full(shape, offset, dtype=np.float32) for name, shape in zip(default_names(3), SHAPES, strict=False)}


# --- a real client ------------------------------------------------------------


@pytest.fixture(scope="module")
def femnist_learner() -> FlowerLearner:
    return FlowerLearner(SoftmaxClient([0, 1, 2]), config={"local_epochs": 10})


def test_is_a_node_learner_with_positional_names(femnist_learner: FlowerLearner) -> None:
    assert isinstance(femnist_learner, Learner)
    initial = femnist_learner.initial_parameters()
    assert list(initial) == ["p000", "p001"]
    assert [a.shape for a in initial.values()] == [(784, 62), (62,)]
    assert all(a.dtype == np.float32 for a in initial.values())
    client = femnist_learner.client
    np.testing.assert_array_equal(initial["p000"], client.get_parameters({})[0])


def test_fit_trains_and_reports_samples(femnist_learner: FlowerLearner) -> None:
    initial = femnist_learner.initial_parameters()
    trained, n = femnist_learner.fit(initial, seed=1)
    assert n == 673  # FEMNIST writers 0-2: 284 + 320 + 69 train samples
    assert list(trained) == list(initial)
    assert all(a.dtype == np.float32 for a in trained.values())
    assert not np.array_equal(trained["p000"], initial["p000"])
    again, _ = femnist_learner.fit(initial, seed=1)
    other, _ = femnist_learner.fit(initial, seed=2)
    for name in trained:
        np.testing.assert_array_equal(again[name], trained[name])
    assert not np.array_equal(other["p000"], trained["p000"])
    np.testing.assert_array_equal(femnist_learner.initial_parameters()["p000"], initial["p000"])


def test_score_ranks_trained_above_untrained(femnist_learner: FlowerLearner) -> None:
    untrained = femnist_learner.initial_parameters()
    trained, _ = femnist_learner.fit(untrained, seed=0)
    client = femnist_learner.client
    expected = [
        softmax_regression_accuracy(params["p000"], params["p001"], client.test_x, client.test_y)
        for params in (untrained, trained)
    ]
    scores = femnist_learner.score([untrained, trained])
    assert [s.accuracy for s in scores] == pytest.approx(expected, abs=1 / len(client.test_y))
    assert scores[1].accuracy > scores[0].accuracy + 0.2
    loss, accuracy = femnist_learner.evaluate(trained)
    assert (accuracy, loss) == scores[1]
    assert loss < scores[0].loss


def test_updates_aggregate_with_fedavg_and_round_trip_through_the_store(tmp_path: Path) -> None:
    learners = [FlowerLearner(SoftmaxClient(writers)) for writers in ([0, 1], [2], [3, 4])]
    genesis = learners[0].initial_parameters()
    updates = [learner.fit(genesis, seed=i) for i, learner in enumerate(learners)]
    sizes = [n for _, n in updates]
    assert sizes == [604, 69, 171]

    aggregate = fedavg(np.stack([flatten(params) for params, _ in updates]), sizes)
    expected = sum(n * flatten(params).astype(np.float64) for params, n in updates) / sum(sizes)
    np.testing.assert_allclose(aggregate, expected, rtol=1e-12)
    model = unflatten(aggregate, genesis)

    store = LocalBlobStore(tmp_path)
    spec = model_spec(genesis)
    for params in [model] + [params for params, _ in updates]:
        fetched = get_model(store, put_model(store, params), expected=spec)
        assert list(fetched) == list(params)
        for name in params:
            assert fetched[name].dtype == np.float32
            np.testing.assert_array_equal(fetched[name], params[name])
    next_round, _ = learners[1].fit(get_model(store, put_model(store, model), expected=spec), seed=3)
    assert learners[1].score([next_round])[0].accuracy >= 0.0


# --- parameters: names, order, dtypes -----------------------------------------


def test_names_by_position_sort_in_list_order() -> None:
    assert default_names(2) == ["p000", "p001"]
    names = default_names(1001)
    assert names[999:] == ["p0999", "p1000"] and sorted(names) == names
    client = ScriptedClient(parameters=[np.full(1, i, dtype=np.float32) for i in range(1001)])
    initial = FlowerLearner(client).initial_parameters()
    assert [int(initial[name][0]) for name in sorted(initial)] == list(range(1001))


def test_given_names_map_dict_to_list_in_client_order() -> None:
    client = ScriptedClient()
    learner = FlowerLearner(client, names=["w", "b", "a"])
    assert list(learner.initial_parameters()) == ["w", "b", "a"]
    params = {"a": np.full(4, 2.0, np.float32), "b": np.full(2, 1.0, np.float32), "w": np.zeros((3, 2), np.float32)}
    trained, n = learner.fit(params, seed=0)
    assert n == 7
    assert [a.shape for a in client.calls[0][1]] == SHAPES
    assert [float(a.flat[0]) for a in client.calls[0][1]] == [0.0, 1.0, 2.0]
    assert {name: float(a.flat[0]) for name, a in trained.items()} == {"w": 1.0, "b": 2.0, "a": 3.0}
    arrays = learner.to_ndarrays(trained)
    round_trip = learner.to_params(arrays)
    assert all(np.array_equal(round_trip[name], trained[name]) for name in trained)


def test_arrays_are_cast_to_float32_and_copied() -> None:
    int_buffers = [np.zeros((3, 2)), np.ones(2, dtype=np.int64), np.zeros(4, dtype=bool)]
    client = ScriptedClient(parameters=int_buffers)
    learner = FlowerLearner(client)
    assert [a.dtype for a in learner.initial_parameters().values()] == [np.float32] * 3
    params = {name: array.astype(np.float64) for name, array in scripted_params(0.5).items()}
    learner.fit(params, seed=0)
    sent = client.calls[0][1]
    assert all(a.dtype == np.float32 for a in sent)
    sent[0][...] = 99.0
    assert params["p000"][0, 0] == 0.5


def test_fit_config_carries_seed_and_round() -> None:
    client = ScriptedClient()
    learner = FlowerLearner(client, config={"local_epochs": 2, "lr": 0.1})
    learner.fit(scripted_params(), seed=11)
    learner.evaluate(scripted_params())
    learner.fit(scripted_params(), seed=12)
    configs = [(method, config) for method, _, config in client.calls]
    assert configs == [
        ("fit", {"local_epochs": 2, "lr": 0.1, "seed": 11, "round": 1}),
        ("evaluate", {"local_epochs": 2, "lr": 0.1}),
        ("fit", {"local_epochs": 2, "lr": 0.1, "seed": 12, "round": 2}),
    ]


def test_a_wrapped_client_is_unwrapped() -> None:
    inner = ScriptedClient()
    assert FlowerLearner(inner.to_client()).client is inner


# --- errors ---------------------------------------------------------------------


class NoAccuracyClient(ScriptedClient):
    def evaluate(self, parameters: list[np.ndarray], config: dict[str, Any]) -> Any:
        return 0.5, 5, {"mse": 0.1}


def test_missing_accuracy_metric_says_what_to_add() -> None:
    learner = FlowerLearner(NoAccuracyClient())
    with pytest.raises(ConfigError, match=r"no 'accuracy' metric \(metrics: \['mse'\]\).*'accuracy': correct / n"):
        learner.score([scripted_params()])


@pytest.mark.parametrize("accuracy", [85.0, -0.1, float("nan"), "0.5", True])
def test_accuracy_must_be_a_fraction(accuracy: Any) -> None:
    learner = FlowerLearner(ScriptedClient(evaluate_answer=(0.1, 5, {"accuracy": accuracy})))
    with pytest.raises(ConfigError, match="not a fraction in"):
        learner.evaluate(scripted_params())


@pytest.mark.parametrize("method", ["fit", "evaluate"])
def test_client_exceptions_name_client_and_method(method: str) -> None:
    error = RuntimeError("disk full")
    learner = FlowerLearner(ScriptedClient(**{f"{method}_answer": error}))
    call = learner.fit if method == "fit" else learner.evaluate
    with pytest.raises(FlowerClientError, match=f"ScriptedClient: {method} raised RuntimeError: disk full") as info:
        call(scripted_params(), *([0] if method == "fit" else []))
    assert info.value.__cause__ is error and info.value.method == method


def test_failed_fit_does_not_advance_the_round() -> None:
    client = ScriptedClient(fit_answer=RuntimeError("flaky"))
    learner = FlowerLearner(client)
    with pytest.raises(FlowerClientError):
        learner.fit(scripted_params(), seed=0)
    client.fit_answer = None
    learner.fit(scripted_params(), seed=0)
    assert [config["round"] for _, _, config in client.calls] == [1, 1]


def test_get_parameters_exceptions_are_wrapped() -> None:
    with pytest.raises(FlowerClientError, match="get_parameters raised ValueError"):
        FlowerLearner(ScriptedClient(parameters=ValueError("no model")))


@pytest.mark.parametrize(
    ("fit_answer", "message"),
    [
        ([np.zeros((3, 2))], r"fit returned list \["),
        (([np.zeros((3, 2))], 7), "fit returned tuple"),
        (([np.zeros((3, 2))], 7, {}), "fit returned 1 arrays, the model has 3"),
        (([np.zeros((3, 2)), np.zeros(2), np.zeros(5)], 7, {}), r"array 2 \('p002'\) from fit has shape \(5,\), the model needs \(4,\)"),
        (([np.zeros((3, 2)), [0.0, 0.0], np.zeros(4)], 7, {}), "list at position 1, not a NumPy array"),
        (([np.zeros((3, 2)), np.zeros(2), np.array(["a"] * 4)], 7, {}), "has dtype <U1"),
        ((np.zeros(3), 7, {}), "returned ndarray .* instead of a list of arrays"),
        (([np.zeros(s) for s in SHAPES], 0, {}), "num_examples=0"),
        (([np.zeros(s) for s in SHAPES], 7.0, {}), "num_examples=7.0"),
        (([np.zeros(s) for s in SHAPES], 7, None), "fit returned tuple"),
    ],
)
def test_malformed_fit_answers(fit_answer: Any, message: str) -> None:
    learner = FlowerLearner(ScriptedClient(fit_answer=fit_answer))
    with pytest.raises(ConfigError, match=message):
        learner.fit(scripted_params(), seed=0)


@pytest.mark.parametrize(
    ("evaluate_answer", "message"),
    [
        ((0.1, {"accuracy": 0.5}), "evaluate returned tuple"),
        ((0.1, 5, {"accuracy": 0.5}, {}), "evaluate returned tuple"),
        (("low", 5, {"accuracy": 0.5}), "loss='low'"),
    ],
)
def test_malformed_evaluate_answers(evaluate_answer: Any, message: str) -> None:
    learner = FlowerLearner(ScriptedClient(evaluate_answer=evaluate_answer))
    with pytest.raises(ConfigError, match=message):
        learner.score([scripted_params()])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({k: v for k, v in scripted_params().items() if k != "p001"}, r"missing \['p001'\], unexpected \[\]"),
        ({**scripted_params(), "extra": np.zeros(1, np.float32)}, r"missing \[\], unexpected \['extra'\]"),
        ({**scripted_params(), "p002": np.zeros(5, np.float32)}, r"'p002' has shape \(5,\), the model needs \(4,\)"),
        ({**scripted_params(), "p002": np.zeros(4, np.int64)}, "'p002' has dtype int64"),
    ],
)
def test_params_that_do_not_fit_the_model_are_refused(params: dict[str, np.ndarray], message: str) -> None:
    client = ScriptedClient()
    learner = FlowerLearner(client)
    with pytest.raises(ConfigError, match=message):
        learner.fit(params, seed=0)
    with pytest.raises(ConfigError, match=message):
        learner.score([params])
    assert client.calls == []


class FitOnlyClient(NumPyClient):
    def get_parameters(self, config: dict[str, Any]) -> list[np.ndarray]:
        return [np.zeros(2, np.float32)]

    def fit(self, parameters: list[np.ndarray], config: dict[str, Any]) -> Any:
        return parameters, 1, {}


class RawClient(Client):
    """A Flower Client speaking Flower's message types."""


@pytest.mark.parametrize(
    ("client", "kwargs", "message"),
    [
        (object(), {}, "needs a flwr.client.NumPyClient, got object"),
        (RawClient(), {}, "RawClient is a Flower Client, not a NumPyClient"),
        (FitOnlyClient(), {}, "FitOnlyClient does not implement evaluate"),
        (ScriptedClient(parameters=[]), {}, "get_parameters returned no arrays"),
        (ScriptedClient(parameters=np.zeros(3)), {}, "get_parameters returned ndarray"),
        (ScriptedClient(parameters=[np.zeros(2, dtype=complex)]), {}, "has dtype complex128"),
        (ScriptedClient(), {"names": ["a", "b"]}, "2 parameter names given for 3 arrays"),
        (ScriptedClient(), {"names": ["a", "b", "a"]}, "unique non-empty strings"),
        (ScriptedClient(), {"names": ["a", "b", ""]}, "unique non-empty strings"),
        (ScriptedClient(), {"config": {"seed": 3}}, r"sets \['seed'\], which bflc sets for each fit"),
        (ScriptedClient(), {"config": {"layers": [1, 2]}}, "is not str -> bool/bytes/int/float/str"),
    ],
)
def test_unusable_clients_and_options_are_refused(client: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        FlowerLearner(client, **kwargs)


# --- load_flower_learner ----------------------------------------------------------


@pytest.mark.parametrize("spec", ["tests.node.flower_clients:make_client", "tests.node.flower_clients:make_wrapped_client"])
def test_load_from_spec(spec: str) -> None:
    learner = load_flower_learner(spec)
    assert isinstance(learner.client, SoftmaxClient)
    assert learner.client.train_y.tolist() == make_client().train_y.tolist()
    assert list(learner.initial_parameters()) == ["p000", "p001"]


def test_load_from_a_dotted_factory() -> None:
    assert len(load_flower_learner("tests.node.flower_clients:Factories.make").client.train_y) == 45  # FEMNIST writer 3


@pytest.mark.parametrize("spec", ["", "tests.node.flower_clients", "tests.node.flower_clients:", ":make_client", "a:b:c", "flower clients:make", "mod:1st", "mod.:f"])
def test_malformed_specs(spec: str) -> None:
    with pytest.raises(ConfigError, match=r"is not module:factory.*mypkg.client:make_client"):
        load_flower_learner(spec)


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("no_such_module_xyz:make", ConfigError, "no module named 'no_such_module_xyz'.*PYTHONPATH"),
        ("tests.node.flower_clients.sub:make", ConfigError, "no module named 'tests.node.flower_clients.sub'"),
        ("tests.node.flower_clients:missing", ConfigError, "'tests.node.flower_clients' has no attribute 'missing'"),
        ("tests.node.flower_clients:Factories.missing", ConfigError, "has no attribute 'Factories.missing'"),
        ("tests.node.flower_clients:NOT_CALLABLE", ConfigError, "is a int, not a callable factory"),
        ("tests.node.flower_clients:client_fn", ConfigError, "cannot be called without arguments.*no Flower Context"),
        ("tests.node.flower_clients:not_a_client_factory", ConfigError, "needs a flwr.client.NumPyClient, got dict"),
        ("tests.node.flower_clients:failing_factory", FlowerClientError, "tests.node.flower_clients:failing_factory: the factory raised RuntimeError: no data"),
    ],
)
def test_spec_errors(spec: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        load_flower_learner(spec)


def test_errors_while_importing_the_client_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "needs_dep_xyz.py").write_text("import missing_dependency_xyz\n")
    (tmp_path / "broken_xyz.py").write_text("raise RuntimeError('bad module')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match=r"importing 'needs_dep_xyz' .* failed: No module named 'missing_dependency_xyz'"):
        load_flower_learner("needs_dep_xyz:make")
    with pytest.raises(FlowerClientError, match="broken_xyz:make: import broken_xyz raised RuntimeError: bad module"):
        load_flower_learner("broken_xyz:make")


def test_flower_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "flwr.client", None)
    with pytest.raises(ConfigError, match=r"Flower is not installed .*pip install 'bflc\[flower\]'"):
        load_flower_learner("tests.node.flower_clients:make_client")
    with pytest.raises(ConfigError, match="Flower is not installed"):
        FlowerLearner(object())


def test_importing_bflc_does_not_import_flower() -> None:
    code = textwrap.dedent(
        """
        import sys
        import bflc.ml.flower, bflc.ml.learner
        assert "flwr" not in sys.modules, "flwr was imported"
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- in a node daemon --------------------------------------------------------------


def test_node_daemons_run_rounds_with_flower_learners(tmp_path: Path) -> None:
    from tests.node.daemon_net import build_net

    net = build_net(tmp_path)
    for account in net.nodes:
        net.daemon(account, FlowerLearner(TinyClient(), names=["b", "w"]))
    start = net.ledger.current_round()
    assert net.play_round() == start + 1
    model = get_model(net.store, bytes32_to_hash(net.ledger.round_state().model.blob_hash))
    assert sorted(model) == ["b", "w"]
    for array in model.values():
        np.testing.assert_allclose(array, 0.5, atol=0.05)
