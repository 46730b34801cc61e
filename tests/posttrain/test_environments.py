"""The SEA reward environment without NeMo-RL: IFEval ids -> constraints, the JSON spec, and the per-record scorer
fed the way NeMo-RL's rollout feeds its environments (message logs + metadata[i]["ground_truth"])."""

import json

import pytest
import torch

from recipes.engines import nemo_rl_config
from recipes.posttrain.environments import ENV_NAME, ScorerConfig, SeaRewardScorer, assistant_text, rollout_metrics
from recipes.posttrain.ifeval_spec import (
    SUPPORTED_INSTRUCTIONS,
    IFEvalSpec,
    IFEvalSpecError,
    build_constraint,
    build_spec,
)

# One everyday sentence per language, plus a word in it and a short phrase.
TEXT = {
    "id": ("Hujan turun dengan lembut di atas atap rumah kami pada malam hari.", "atap", "Hujan turun"),
    "th": ("ฝนตกลงมาเบาๆบนหลังคาบ้านของเราในยามค่ำคืน", "หลังคา", "ฝนตก"),
    "vi": ("Mưa rơi nhẹ nhàng trên mái nhà của chúng tôi vào ban đêm.", "mái nhà", "Mưa rơi"),
    "tl": ("Umuulan nang mahina sa bubong ng aming bahay tuwing gabi.", "bubong", "Umuulan"),
}


def cases(language):
    """(instruction id, kwargs, a response that follows it, one that does not) in `language`."""
    sentence, word, phrase = TEXT[language]
    cases = [
        ("length_constraints:number_words", {"relation": "at least", "num_words": 5}, sentence, phrase),
        ("length_constraints:number_words", {"relation": "less than", "num_words": 5}, phrase, sentence),
        (
            "length_constraints:number_sentences",
            {"relation": "less than", "num_sentences": 2},
            sentence,
            f"{sentence}\n{sentence}",
        ),
        (
            "length_constraints:number_paragraphs",
            {"num_paragraphs": 2},
            f"{sentence}\n***\n{sentence}",
            f"{sentence}\n\n{sentence}",
        ),
        ("keywords:existence", {"keywords": [word]}, sentence, phrase),
        ("keywords:forbidden_words", {"forbidden_words": [word]}, phrase, sentence),
        ("startend:start_checker", {"start_phrase": phrase}, sentence, f"{word} {sentence}"),
        ("startend:end_checker", {"end_phrase": word}, f"{sentence} {word}", sentence),
        ("detectable_format:json_format", {}, json.dumps({"teks": sentence}, ensure_ascii=False), sentence),
        ("detectable_format:number_bullet_lists", {"num_bullets": 2}, f"* {sentence}\n* {phrase}", f"* {sentence}"),
        ("punctuation:no_comma", {}, sentence, f"{phrase}, {sentence}"),
    ]
    if language != "th":  # Thai has no letter case (checked in test_lowercase_is_refused_for_a_caseless_script)
        cases.append(("change_case:english_lowercase", {}, sentence.lower(), sentence))
    return cases


ALL_CASES = [(language, *case) for language in ("id", "th", "vi", "tl") for case in cases(language)]


@pytest.mark.parametrize(
    "language,instruction,kwargs,follows,breaks", ALL_CASES, ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(ALL_CASES)]
)
def test_each_instruction_maps_onto_a_checking_constraint(language, instruction, kwargs, follows, breaks):
    constraint = build_constraint(instruction, kwargs)
    assert constraint.name == instruction
    assert constraint.is_followed(follows, language)
    assert not constraint.is_followed(breaks, language)


def test_every_supported_instruction_is_exercised_in_three_languages():
    for instruction in SUPPORTED_INSTRUCTIONS:
        languages = {language for language, case_instruction, *_ in ALL_CASES if case_instruction == instruction}
        assert len(languages) >= 3, instruction


def test_ifeval_relations_and_google_ifeval_null_kwargs():
    # Google IFEval lists every kwarg name on every row, unused ones as null.
    constraint = build_constraint(
        "length_constraints:number_words",
        {"relation": "less than", "num_words": 10, "keywords": None, "end_phrase": None},
    )
    assert (constraint.at_least, constraint.at_most) == (None, 9)
    assert build_constraint("length_constraints:number_words", {"relation": "at least", "num_words": 10}).at_least == 10


@pytest.mark.parametrize(
    "instruction,kwargs,message",
    [
        (
            "detectable_content:postscript",
            {"postscript_marker": "P.S."},
            "'detectable_content:postscript' has no checker",
        ),
        ("keywords:existence", {}, r"lack \['keywords'\]"),
        ("punctuation:no_comma", {"num_words": 3}, r"unknown \['num_words'\]"),
        ("length_constraints:number_words", {"relation": "about", "num_words": 3}, "relation='about'"),
    ],
)
def test_unknown_or_malformed_instructions_are_errors_naming_them(instruction, kwargs, message):
    with pytest.raises(IFEvalSpecError, match=message):
        build_constraint(instruction, kwargs)


def test_unknown_id_fails_the_whole_spec_and_carries_a_short_reason():
    args = {"instruction_id_list": ["punctuation:no_comma", "combination:repeat_prompt"], "kwargs": [{}, {}]}
    with pytest.raises(IFEvalSpecError, match="combination:repeat_prompt") as err:
        build_spec(args, TEXT["id"][0])
    assert err.value.reason == "unsupported instruction combination:repeat_prompt"


def test_spec_language_from_the_record_else_detected_and_round_trips_through_json():
    args = {"instruction_id_list": ["keywords:existence"], "kwargs": [{"keywords": ["hujan"]}]}
    detected = build_spec(args, "Tulis puisi tentang hujan dalam bahasa Indonesia. Jangan gunakan koma.")
    assert detected.language == "id"
    assert build_spec(args, "Write a poem about rain in Malay.", language="ms").language == "ms"
    again = IFEvalSpec.from_json(detected.to_json())
    assert again == detected and again.constraints() == detected.constraints()
    with pytest.raises(IFEvalSpecError, match="not an ifeval spec"):
        IFEvalSpec.from_json('{"answer": 3}')


def test_lowercase_is_refused_for_a_caseless_script_and_kwargs_must_pair_with_ids():
    with pytest.raises(IFEvalSpecError, match="no letter case"):
        build_spec({"instruction_id_list": ["change_case:english_lowercase"], "kwargs": [{}]}, TEXT["th"][0])
    with pytest.raises(IFEvalSpecError, match="2 instruction ids but 1 kwargs"):
        build_spec(
            {"instruction_id_list": ["punctuation:no_comma", "detectable_format:json_format"], "kwargs": [{}]},
            TEXT["id"][0],
        )
    with pytest.raises(IFEvalSpecError, match="no constraints"):
        build_spec({"instruction_id_list": [], "kwargs": []}, TEXT["id"][0])


def spec(language, *pairs):
    return IFEvalSpec(language, tuple(i for i, _ in pairs), tuple(k for _, k in pairs)).to_json()


THAI_NO_COMMA = spec("th", ("punctuation:no_comma", {}))
INDONESIAN_TWO = spec("id", ("punctuation:no_comma", {}), ("keywords:existence", {"keywords": ["pelangi"]}))


def test_scorer_on_a_mixed_batch():
    responses = [
        "So the answer is \\boxed{24}.",
        "I think it is 25.",
        TEXT["th"][0],
        "The rain falls gently on the roof of our house at night.",
        TEXT["id"][0],
    ]
    metadata = [
        {"ground_truth": "24"},
        {"ground_truth": "24"},
        {"ground_truth": THAI_NO_COMMA},
        {"ground_truth": THAI_NO_COMMA},
        {"ground_truth": INDONESIAN_TWO},
    ]
    # math right, math wrong, Thai instruction followed, followed but answered in English, Indonesian half followed
    assert SeaRewardScorer().score(responses, metadata) == [1.0, 0.0, 1.0, 0.0, 0.5]
    assert SeaRewardScorer(ScorerConfig(all_or_nothing=True)).score(responses[4:], metadata[4:]) == [0.0]


def test_a_math_answer_that_looks_like_json_is_still_math():
    responses = ["The set is \\boxed{\\{1, 2\\}}", "\\boxed{\\{1, 3\\}}"]
    assert SeaRewardScorer().score(responses, [{"ground_truth": "{1, 2}"}] * 2) == [1.0, 0.0]


def test_scorer_refuses_metadata_without_ground_truth():
    with pytest.raises(ValueError, match=r"metadata\[1\].*no 'ground_truth'"):
        SeaRewardScorer().score(["1", "2"], [{"ground_truth": "1"}, {}])
    with pytest.raises(ValueError, match="2 responses but 1 metadata"):
        SeaRewardScorer().score(["1", "2"], [{"ground_truth": "1"}])


def test_message_log_batch_through_the_actor_step():
    """NeMo-RL's rollout: per sample a list of {"role", "content"} turns (the user turn already templated), and the
    data processor's extra_env_info as metadata."""
    batch = [
        [
            {"role": "user", "content": "<start_of_turn>user\nBerapa 6 x 4?<end_of_turn>\n<start_of_turn>model\n"},
            {"role": "assistant", "content": "6 x 4 = \\boxed{24}"},
        ],
        [
            {"role": "user", "content": "<start_of_turn>user\nเขียนเกี่ยวกับฝน ห้ามใช้จุลภาค<end_of_turn>\n"},
            {"role": "assistant", "content": TEXT["th"][0][:20]},
            {"role": "assistant", "content": TEXT["th"][0][20:]},
        ],
        [
            {"role": "user", "content": "เขียนเกี่ยวกับฝน ห้ามใช้จุลภาค"},
            {"role": "assistant", "content": "ฝนตก, ลมพัด, ฟ้าร้องดังสนั่นไปทั่วทั้งหมู่บ้านในคืนนี้"},
        ],
    ]
    metadata = [{"ground_truth": "24"}, {"ground_truth": THAI_NO_COMMA}, {"ground_truth": THAI_NO_COMMA}]
    assert assistant_text(batch[1]) == TEXT["th"][0]
    result = SeaRewardScorer().step(batch, metadata)
    assert result.rewards.tolist() == [1.0, 1.0, 0.0] and result.rewards.dtype == torch.float32
    assert result.terminateds.tolist() == [1.0, 1.0, 1.0]
    assert [o["role"] for o in result.observations] == ["environment"] * 3


def test_rollout_metrics_count_an_unfinished_answer_as_zero():
    metrics = rollout_metrics(torch.tensor([1.0, 0.5, 1.0, 0.0]), torch.tensor([1, 1, 0, 1]))
    assert metrics["accuracy"] == pytest.approx(1.5 / 4) and metrics["mean_reward"] == pytest.approx(2.5 / 4)
    assert metrics["fraction_of_samples_properly_ended"] == 0.75 and metrics["num_problems_in_batch"] == 4


def test_rendered_env_name_is_the_registered_one():
    assert nemo_rl_config.SEA_ENV_NAME == ENV_NAME


@pytest.fixture
def nemo_rl_stand_in(monkeypatch):
    """Minimal `ray` and `nemo_rl` modules with the names the glue imports (neither is installable here): ray.remote
    returns the class itself, so the actor runs in-process."""
    import sys
    import types
    from typing import NamedTuple

    from recipes.posttrain import environments

    class EnvironmentReturn(NamedTuple):
        observations: list
        metadata: list
        next_stop_strings: list
        rewards: torch.Tensor
        terminateds: torch.Tensor
        answers: list | None

    modules = {
        "ray": types.SimpleNamespace(remote=lambda cls: cls),
        "nemo_rl": types.ModuleType("nemo_rl"),
        "nemo_rl.environments.interfaces": types.SimpleNamespace(
            EnvironmentInterface=object, EnvironmentReturn=EnvironmentReturn
        ),
        "nemo_rl.distributed.ray_actor_environment_registry": types.SimpleNamespace(ACTOR_ENVIRONMENT_REGISTRY={}),
        "nemo_rl.distributed.virtual_cluster": types.SimpleNamespace(
            PY_EXECUTABLES=types.SimpleNamespace(SYSTEM="python")
        ),
    }
    env_registry: dict = {}

    def register_env(name, fqn):
        if name in env_registry:
            raise ValueError(f"Env name {name} already registered")
        env_registry[name] = {"actor_class_fqn": fqn}

    modules["nemo_rl.environments.utils"] = types.SimpleNamespace(ENV_REGISTRY=env_registry, register_env=register_env)
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    environments._actor_class.cache_clear()
    yield modules, env_registry
    environments._actor_class.cache_clear()


def test_registration_and_actor_glue(nemo_rl_stand_in):
    import importlib

    from recipes.posttrain.environments import ACTOR_CLASS_FQN, register_with_nemo_rl

    modules, env_registry = nemo_rl_stand_in
    register_with_nemo_rl()
    register_with_nemo_rl()  # the entry script may run twice in one process
    assert env_registry == {"sea_ifeval": {"actor_class_fqn": ACTOR_CLASS_FQN}}
    registry = modules["nemo_rl.distributed.ray_actor_environment_registry"].ACTOR_ENVIRONMENT_REGISTRY
    assert registry == {ACTOR_CLASS_FQN: "python"}
    # NeMo-RL's create_env resolves the class from its dotted name (hydra's get_object: import, then getattr).
    module_name, class_name = ACTOR_CLASS_FQN.rsplit(".", 1)
    actor = getattr(importlib.import_module(module_name), class_name)({"all_or_nothing": False})
    batch = [
        [{"role": "user", "content": "6 x 4?"}, {"role": "assistant", "content": "\\boxed{24}"}],
        [{"role": "user", "content": "ห้ามใช้จุลภาค"}, {"role": "assistant", "content": "ฝนตก, ลมพัด"}],
    ]
    metadata = [{"ground_truth": "24"}, {"ground_truth": THAI_NO_COMMA}]
    returned = actor.step(batch, metadata)
    assert returned.rewards.tolist() == [1.0, 0.0] and returned.metadata == metadata
    assert returned.next_stop_strings == [None, None] and returned.terminateds.tolist() == [1.0, 1.0]
    _, metrics = actor.global_post_process_and_metrics({"rewards": returned.rewards, "is_end": torch.ones(2)})
    assert metrics["accuracy"] == 0.5
