"""Scripted and replay models, and RecordingModel."""

import json

import pytest
from fake_llm import Failure

from kernelwright.llm import (
    CallContext, Completion, LLMError, Message, PriceTable, RecordingModel, RepliesExhausted, ReplyError, RetryPolicy,
    open_model,
)
from kernelwright.llm import scripted as scripted_module
from kernelwright.llm.prices import Price
from kernelwright.store import LLMCall, Run, Store, prompt_hash


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "kw.db") as s:
        yield s


@pytest.fixture
def script(tmp_path):
    (tmp_path / "candidates").mkdir()
    (tmp_path / "candidates" / "seed.py").write_text("import torch\n\nclass ModelNew: ...\n")
    path = tmp_path / "demo.json"
    path.write_text(json.dumps({
        "about": "a test script",
        "coder": ["first coder reply", {"file": "candidates/seed.py"}, {"text": "third"}],
        "judge": [{"text": "looks correct"}],
    }))
    return path


def ctx(role="coder", sequence=0, task_hash="a" * 64, run_id="run-1", purpose="seed", **extra):
    return CallContext(run_id=run_id, role=role, purpose=purpose, task_hash=task_hash, sequence=sequence, **extra)


def say(text):
    return [Message(role="user", content=text)]


# scripted


def test_scripted_replies_answer_by_the_roles_call_number(script):
    model = open_model(f"scripted/{script}")
    model.preflight()
    first = model.complete(say("write it"), ctx())
    assert first == Completion(text="first coder reply", model=f"scripted/{script}", input_tokens=2,
                               output_tokens=3, cost_usd=0.0, latency_s=0.0, finish_reason="stop")
    assert model.complete(say("judge it"), ctx("judge")).text == "looks correct"
    assert model.complete(say("again"), ctx(sequence=1)).text == "import torch\n\nclass ModelNew: ...\n"
    assert model.complete(say("again"), ctx(sequence=2)).text == "third"
    # another task, or the same call again after a resume, gets the same reply
    assert model.complete(say("again"), ctx(sequence=0, task_hash="b" * 64)).text == "first coder reply"
    assert model.complete(say("again"), ctx(sequence=1)).text == "import torch\n\nclass ModelNew: ...\n"
    with pytest.raises(RepliesExhausted, match=rf"^scripted model {script} has no coder reply #4 \(the script holds 3\)$"):
        model.complete(say("more"), ctx(sequence=3))
    with pytest.raises(LLMError, match=r"no judge reply #2 \(the script holds 1\)"):
        model.complete(say("more"), ctx("judge", sequence=1))


def test_shipped_script_by_name(tmp_path, monkeypatch):
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "matmul-demo.json").write_text(json.dumps({"coder": ["shipped reply"]}))
    (shipped / "other.json").write_text("{}")
    monkeypatch.setattr(scripted_module, "shipped_script_dirs", lambda: [shipped])
    monkeypatch.chdir(tmp_path)
    assert open_model("scripted/matmul-demo").complete(say("x"), ctx()).text == "shipped reply"
    with pytest.raises(LLMError) as caught:
        open_model("scripted/nope")
    assert str(caught.value) == ("scripted model: no file nope and no shipped script of that name "
                                 "(shipped scripts: matmul-demo, other)")


@pytest.mark.parametrize("path", [p for d in scripted_module.shipped_script_dirs() for p in sorted(d.glob("*.json"))],
                         ids=lambda p: p.stem)
def test_every_shipped_script_loads(path):
    model = open_model(f"scripted/{path.stem}")
    assert model.path == path
    assert model.remaining("coder") > 0 or all(model.remaining("coder", task=task) > 0 for task in model.tasks)


def test_missing_shipped_folder_is_tolerated(tmp_path, monkeypatch):
    monkeypatch.setattr(scripted_module, "shipped_script_dirs", lambda: [])
    with pytest.raises(LLMError, match=r"^scripted model: no file nope and no shipped script of that name$"):
        open_model("scripted/nope")


@pytest.mark.parametrize("content,error", [
    ("not json", "is not valid JSON"),
    (json.dumps({"coder": [{"path": "x.py"}]}), r"coder\.0"),
    (json.dumps({"coders": []}), "coders"),
    (json.dumps({"coder": [{"file": "missing.py"}]}), "cannot read reply file missing.py"),
])
def test_bad_script_is_one_line(tmp_path, content, error):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(LLMError, match=error) as caught:
        open_model(f"scripted/{path}")
    assert "\n" not in str(caught.value)


def test_scripted_preflight_notices_a_removed_script(script):
    model = open_model(f"scripted/{script}")
    script.unlink()
    with pytest.raises(LLMError, match="no longer exists"):
        model.preflight()


# recording


def test_recording_stores_exact_rows(store, script):
    run = store.add(Run())
    model = RecordingModel(open_model(f"scripted/{script}"), store)
    context = ctx(run_id=run.id, round=2, subject_id="cand-1", sequence=2)
    messages = [Message(role="system", content="be brief"), Message(role="user", content="write the kernel")]
    completion = model.complete(messages, context)
    [call] = store.llm_calls(run_id=run.id)
    assert completion.call_id == call.id
    assert call == LLMCall(
        id=call.id, created_at=call.created_at, run_id=run.id, role="coder", model=f"scripted/{script}",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "write the kernel"}],
        response="third", tokens_in=5, tokens_out=1, cost_usd=0.0, latency_s=0.0, retries=0,
        error=None, task_hash="a" * 64, round=2, purpose="seed", subject_id="cand-1", sequence=2,
        prompt_hash=prompt_hash([{"role": "system", "content": "be brief"}, {"role": "user", "content": "write the kernel"}]))


def test_recording_stores_failures_and_reraises(store, fake_llm, sleeps):
    run = store.add(Run())
    inner = open_model("openai/gpt-x", base_url=fake_llm.openai_base_url, sleep=sleeps,
                       retry=RetryPolicy(attempts=3, base_s=0.001))
    model = RecordingModel(inner, store)
    fake_llm.push(*[Failure(500, message="boom")] * 3)
    with pytest.raises(ReplyError):
        model.complete(say("x"), ctx(run_id=run.id, role="judge", purpose="correction"))
    fake_llm.push(Failure(401))
    with pytest.raises(LLMError):
        model.complete(say("y"), ctx(run_id=run.id, sequence=1))
    failed, rejected = store.llm_calls(run_id=run.id)
    assert (failed.role, failed.model, failed.response, failed.retries) == ("judge", "openai/gpt-x", "", 2)
    assert failed.error == "openai/gpt-x: no usable reply after 3 attempts; last: HTTP 500: boom"
    assert failed.messages == [{"role": "user", "content": "x"}]
    assert failed.latency_s > 0
    assert (rejected.sequence, rejected.retries) == (1, 0)
    assert rejected.error.startswith("openai/gpt-x: the provider rejected the API key (HTTP 401")


def test_recording_a_provider_call(store, fake_llm):
    from fake_llm import Reply
    run = store.add(Run())
    prices = PriceTable(models={"gpt-x": Price(input=1.0, output=4.0)})
    model = RecordingModel(open_model("openai/gpt-x", base_url=fake_llm.openai_base_url, prices=prices), store)
    fake_llm.push(Reply("kernel", model="gpt-x-0613", input_tokens=1000, output_tokens=250))
    completion = model.complete(say("x"), ctx(run_id=run.id))
    [call] = store.llm_calls(run_id=run.id)
    assert (call.model, call.response, call.tokens_in, call.tokens_out) == ("gpt-x-0613", "kernel", 1000, 250)
    assert call.cost_usd == pytest.approx(0.002) and call.latency_s == completion.latency_s > 0


# replay


def test_replay_answers_by_task_role_and_sequence(store, script):
    first = store.add(Run())
    recorder = RecordingModel(open_model(f"scripted/{script}"), store)
    asked = [ctx("coder", 0), ctx("judge", 0), ctx("coder", 1), ctx("coder", 0, task_hash="b" * 64)]
    originals = [recorder.complete(say("q"), c.model_copy(update={"run_id": first.id})) for c in asked]

    model = open_model(f"replay/{first.id}", store=store)
    model.preflight()
    for context, original in reversed(list(zip(asked, originals))):
        replayed = model.complete(say("q"), context.model_copy(update={"run_id": "run-2"}))
        assert (replayed.text, replayed.input_tokens, replayed.output_tokens, replayed.model) == (
            original.text, original.input_tokens, original.output_tokens, original.model)
        assert replayed.cost_usd == 0.0
    with pytest.raises(LLMError) as caught:
        model.complete(say("q"), ctx("judge", 7, task="matmul"))
    assert str(caught.value) == f"run {first.id} recorded no judge reply for task matmul sample 0 sequence 7"
    with pytest.raises(LLMError, match="sample 1 sequence 0"):  # another sample of the task is another trajectory
        model.complete(say("q"), ctx("coder", 0).model_copy(update={"sample": 1}))


def test_replay_repeats_a_recorded_failure(store):
    run = store.add(Run())
    store.add(LLMCall(run_id=run.id, role="coder", model="openai/x", task_hash="a" * 64, sequence=0,
                      error="openai/x: no usable reply after 6 attempts; last: HTTP 503: busy", retries=5))
    store.add(LLMCall(run_id=run.id, role="coder", model="openai/x", task_hash="a" * 64, sequence=1,
                      error="first try failed"))
    store.add(LLMCall(run_id=run.id, role="coder", model="gpt-x", task_hash="a" * 64, sequence=1,
                      response="second try", tokens_in=3, tokens_out=2))
    model = open_model(f"replay/{run.id}", store=store)
    with pytest.raises(ReplyError, match="replayed failure: .*HTTP 503: busy") as caught:
        model.complete(say("q"), ctx())
    assert caught.value.retries == 5
    assert model.complete(say("q"), ctx(sequence=1)).text == "second try"


def test_replay_of_a_missing_run(store):
    with pytest.raises(LLMError) as caught:
        open_model("replay/no-such-run", store=store)
    assert str(caught.value) == f"no run no-such-run in {store.path}; `kernelwright show` lists runs"
    with pytest.raises(LLMError, match="needs the database"):
        open_model("replay/no-such-run")
