"""Plumbing on the tiny random model: every method, both augmentation sources, the store."""

import dataclasses

import duckdb
import pytest
import torch

from core.errors import LabError
from core.lm import generation, models
from core.methods import METHODS, augment, icl
from core.methods.finetune import FTConfig, make_examples, split_sentences, train
from core.running.runner import RunSpec, execute, run_all
from core.storage.store import Store
from core.worlds import build_world

SMALL = {"n_facts": 6, "n_dimensions": 2}


def specs(source, **ft):
    return [RunSpec(method=m, overrides=SMALL, model="tiny", aug_source=source,
                    ft=FTConfig(epochs=1, **ft)) for m in METHODS]


@pytest.mark.parametrize("source", ["oracle", "model"])
def test_every_method_runs_and_is_stored(source, tiny_lm, tmp_path):
    store = Store(tmp_path / "lab.duckdb")
    phases = []
    results = run_all(specs(source), store, progress=lambda p, f, m: phases.append(p),
                      lm_cache={"tiny": tiny_lm})
    assert [r.spec.method for r in results] == list(METHODS)
    assert {"evaluate", "train", "augment"} <= set(phases)
    runs = store.runs()
    assert list(runs.status) == ["complete"] * len(METHODS)
    totals = store.run_totals()
    assert (totals.flops > 0).all() and (totals.seconds > 0).all()
    assert totals.heldout_accuracy.between(0, 1).all()
    metrics = store.metrics()
    assert set(metrics.split) == {"forward", "reversal"} and (metrics.chance == 0.5).all()
    assert len(store.query("SELECT * FROM predictions")) == len(METHODS) * 12
    reused = {r.spec.method: r.extra.get("augmentation_reused") for r in results}
    assert reused["ft_local_global"] == (["local", "global"] if source == "model" else None)
    curves = store.query("SELECT run_id, count(*) AS n FROM loss_curves GROUP BY run_id")
    assert len(curves) == 4  # the four fine-tuning methods
    augs = store.query("SELECT DISTINCT label FROM augmentations")
    assert set(augs.label) <= {"true", "false", "unparseable"}
    if source == "oracle":
        assert set(augs.label) == {"true"}
    ft_global = next(r for r in results if r.spec.method == "ft_global")
    assert ft_global.extra["augmentation_audit"]["generated"] >= 0
    icl_run = next(r for r in results if r.spec.method == "icl")
    assert icl_run.extra["icl_needed_fact_coverage"] == 1.0
    # ICL pays for its context on every query; FT does not.
    assert icl_run.extra["per_query_flops"] > 1.2 * results[0].extra["per_query_flops"]


def test_lora_and_sentence_splitting_train(tiny_lm):
    world = build_world("reversals", 0, overrides=SMALL)
    for mode, splitting in [("lora", "none"), ("full", "independent"), ("full", "cumulative")]:
        spec = RunSpec(method="ft", overrides=SMALL, model="tiny",
                       ft=FTConfig(mode=mode, splitting=splitting, epochs=1))
        result = execute(spec, world, tiny_lm)
        assert result.losses and result.costs[0].phase == "train"
    # LoRA trains only adapters: far fewer FLOPs than full fine-tuning per token.
    lora = execute(RunSpec(method="ft", model="tiny", overrides=SMALL,
                           ft=FTConfig(mode="lora", epochs=1)), world, tiny_lm).costs[0]
    full = execute(RunSpec(method="ft", model="tiny", overrides=SMALL,
                           ft=FTConfig(epochs=1)), world, tiny_lm).costs[0]
    assert lora.flops / lora.tokens < full.flops / full.tokens


@pytest.mark.parametrize("mode", ["full", "lora"])
def test_fine_tuning_changes_weights_in_place_and_they_come_back(tiny_lm, mode):
    before = {k: v.clone() for k, v in tiny_lm.model.state_dict().items()}
    with models.weights_restored(tiny_lm):
        train(tiny_lm, [("", "glon are more dangerous than femp.")], FTConfig(mode=mode, epochs=3, lr=0.01))
        during = tiny_lm.model.state_dict()
        assert set(during) == set(before)
        assert any((before[k] != during[k]).any() for k in before)
    after = tiny_lm.model.state_dict()
    assert all((before[k] == after[k]).all() for k in before)


def test_a_run_restores_the_model_for_the_next_one(tiny_lm):
    world = build_world("reversals", 0, overrides=SMALL)
    before = execute(RunSpec(method="pretrained", model="tiny", overrides=SMALL), world, tiny_lm)
    execute(RunSpec(method="ft", model="tiny", overrides=SMALL, ft=FTConfig(epochs=2, lr=0.01)),
            world, tiny_lm)
    after = execute(RunSpec(method="pretrained", model="tiny", overrides=SMALL), world, tiny_lm)
    assert [p.logprobs for p in before.predictions] == [p.logprobs for p in after.predictions]


def test_training_lowers_the_loss(tiny_lm):
    with models.weights_restored(tiny_lm):
        result = train(tiny_lm, [("", "glon are more dangerous than femp.")] * 8,
                       FTConfig(epochs=60, lr=1e-2))
    assert result.losses[-1]["loss"] < 0.5 * result.losses[0]["loss"]


def test_sentence_splitting_modes():
    text = "Did you know?\nfemp are more dangerous than glon. It is so."
    assert "".join(split_sentences(text)) == text
    assert make_examples([text], "none") == [("", text)]
    independent = make_examples([text], "independent")
    assert [t for _, t in independent] == ["Did you know?", "femp are more dangerous than glon.",
                                           "It is so."]
    cumulative = make_examples([text], "cumulative")
    assert cumulative[2] == ("Did you know?\nfemp are more dangerous than glon.", " It is so.")


def test_icl_subsamples_to_fit_without_reading_the_test(tiny_lm):
    world = build_world("reversals", 0, overrides={"n_facts": 30, "articles_per_fact": 3})
    full = icl.build_context(tiny_lm, world.documents, world.items)
    assert full.documents_used == 90 and full.needed_fact_coverage == 1.0
    small = icl.build_context(tiny_lm, world.documents, world.items, max_tokens=400)
    longest = max(len(tiny_lm.encode(i.prompt + max(i.choices, key=len))) for i in world.items)
    assert small.tokens + longest <= 400 and small.documents_used < 90
    # The default sample does not read which facts the items need: without them, the same text.
    blind = [dataclasses.replace(i, fact_ids=()) for i in world.items]
    assert icl.build_context(tiny_lm, world.documents, blind, max_tokens=400).text == small.text
    assert icl.build_context(tiny_lm, world.documents, world.items, max_tokens=400, seed=1
                             ).text != small.text  # the seed draws the sample
    # needed_first (an upper bound) spends the budget on new facts before repeating an article.
    needed = icl.build_context(tiny_lm, world.documents, world.items, max_tokens=400,
                               fill="needed_first")
    assert needed.needed_fact_coverage == pytest.approx(needed.documents_used / 30)
    assert needed.needed_fact_coverage > small.needed_fact_coverage
    with pytest.raises(LabError, match="no room"):
        icl.build_context(tiny_lm, world.documents, world.items, max_tokens=5)
    with pytest.raises(LabError, match="ICL fill"):
        RunSpec(method="icl", icl_fill="peek").validate()


def test_model_augmentation_is_split_deduplicated_and_audited():
    world = build_world("reversals", 0, overrides=SMALL)
    fact = world.facts[0].data
    text = (f"- {fact['object']} are less {fact['adj']} than {fact['subject']}.\n"
            f"2. {fact['object']} are less {fact['adj']} than {fact['subject']}.\n"
            "I like turtles.\n")
    assert augment.statements_from_text(text)[0].startswith(fact["object"])
    assert [world.judge(s) for s in augment.statements_from_text(text)] == \
        ["true", "true", "unparseable"]


def test_a_sweep_writes_each_scope_once_and_reuse_changes_nothing_but_time(tiny_lm, monkeypatch):
    world = build_world("reversals", 0, overrides=SMALL)
    fresh = augment.augment(world, ("local", "global"), "model", tiny_lm)
    calls = []
    generate = generation.generate
    monkeypatch.setattr(generation, "generate", lambda *a, **k: calls.append(1) or generate(*a, **k))
    cache: augment.GenerationCache = {}
    local = augment.augment(world, ("local",), "model", tiny_lm, cache=cache)
    global_ = augment.augment(world, ("global",), "model", tiny_lm, cache=cache)
    both = augment.augment(world, ("local", "global"), "model", tiny_lm, cache=cache)
    assert len(calls) == 2 and both.reused_scopes == ["local", "global"]
    assert both.statements == fresh.statements
    # A reused set still costs what writing it cost.
    assert (both.tokens, both.flops) == (fresh.tokens, fresh.flops)
    assert both.reused_seconds == pytest.approx(sum(g.seconds for g in cache.values()))
    assert local.reused_scopes == global_.reused_scopes == []


def test_global_augmentation_reads_a_set_longer_than_the_context_in_passes(tiny_lm, monkeypatch):
    world = build_world("reversals", 0, overrides=SMALL)
    whole = augment.augment(world, ("global",), "model", tiny_lm)
    assert whole.seen == {"global_passes": 1, "global_context_share": 1.0}
    prompted = []
    generate = generation.generate
    monkeypatch.setattr(generation, "generate", lambda lm, prompts, **k: prompted.extend(
        (k["shared_prefix"], p) for p in prompts) or generate(lm, prompts, **k))
    # A context of 260 tokens holds part of the (200-token) training set beside one prompt.
    monkeypatch.setattr(tiny_lm.model.config, "max_position_embeddings", 260)
    passes = augment.global_passes(tiny_lm, world)
    assert len(passes) > 1
    assert [d for group, _ in passes for d in group] == world.documents  # every one, once
    split = augment.augment(world, ("global",), "model", tiny_lm)
    assert split.seen["global_passes"] == len(passes)
    assert 0 < split.seen["global_context_share"] < 1
    # Each document is prompted after the group that holds it, and each prompt fits.
    assert len(prompted) == len(world.documents)
    for (prefix, prompt), document in zip(prompted, world.documents):
        assert document.text in prefix
        assert len(tiny_lm.encode(prefix + prompt)) + augment.GLOBAL_NEW_TOKENS <= 260
    monkeypatch.setattr(tiny_lm.model.config, "max_position_embeddings", 60)
    with pytest.raises(LabError, match="does not fit"):
        augment.global_passes(tiny_lm, world)


def test_same_training_data_and_seed_give_the_same_model_and_metrics(tiny_lm):
    # What lets a sweep reuse a trained model (runner.TrainingCache): training and scoring are
    # deterministic on the CPU, to the bit.
    world = build_world("reversals", 0, overrides=SMALL)
    spec = RunSpec(method="ft_local", overrides=SMALL, model="tiny", ft=FTConfig(epochs=2))
    first, second = execute(spec, world, tiny_lm), execute(spec, world, tiny_lm)
    assert first.losses == second.losses
    assert [p.logprobs for p in first.predictions] == [p.logprobs for p in second.predictions]
    assert first.metrics == second.metrics
    other_seed = execute(dataclasses.replace(spec, seed=1), world, tiny_lm)
    assert other_seed.losses != first.losses  # the seed does reach training (batch order)


def test_a_run_on_exactly_an_earlier_runs_data_reuses_its_trained_model(tiny_lm, tmp_path):
    # The reversals world has no global inferences: ft_global trains on ft's data, and
    # ft_local_global on ft_local's. Each says so, and keeps the cost of the work it reused.
    store = Store(tmp_path / "lab.duckdb")
    results = {r.spec.method: r for r in run_all(specs("oracle"), store, lm_cache={"tiny": tiny_lm})}
    assert results["ft_global"].extra["augmentation_statements"] == 0
    assert results["ft_global"].extra["training_reused_from"] == results["ft"].run_id
    assert results["ft_local_global"].extra["training_reused_from"] == results["ft_local"].run_id
    assert "training_reused_from" not in results["ft_local"].extra
    for copy, source in [("ft_global", "ft"), ("ft_local_global", "ft_local")]:
        assert results[copy].metrics == results[source].metrics
        train = {c.phase: c for c in results[copy].costs}["train"]
        assert train.flops == {c.phase: c for c in results[source].costs}["train"].flops > 0
    # Without the cache it trains again and gets the same numbers.
    world = build_world("reversals", 0, overrides=SMALL)
    again = execute(results["ft_global"].spec, world, tiny_lm)
    assert again.metrics == results["ft"].metrics and again.losses == results["ft"].losses
    stored = store.query("SELECT method, extra FROM runs WHERE method = 'ft_global'")
    assert "training_reused_from" in stored.extra[0]


def test_a_killed_run_is_marked_failed_not_complete(tmp_path):
    store = Store(tmp_path / "lab.duckdb")
    world = build_world("reversals", 0, overrides=SMALL)
    world_id = store.save_world(world, "quick")
    store.begin_run("deadbeef", world_id, RunSpec(method="ft"))
    with duckdb.connect(str(store.path)) as con:  # as if its process had died
        con.execute("UPDATE runs SET pid = 999999999 WHERE run_id = 'deadbeef'")
    runs = Store(store.path).runs()
    assert runs.status.tolist() == ["failed"] and "interrupted" in runs.error[0]
    assert Store(store.path).run_totals().empty


def test_a_failing_run_is_stored_as_failed_and_the_sweep_goes_on(tiny_lm, tmp_path):
    store = Store(tmp_path / "lab.duckdb")
    bad = RunSpec(method="icl", overrides=SMALL, model="tiny", icl_max_tokens=5)
    good = RunSpec(method="pretrained", overrides=SMALL, model="tiny")
    results = run_all([bad, good], store, lm_cache={"tiny": tiny_lm})
    assert [r.spec.method for r in results] == ["pretrained"]
    assert store.runs().status.tolist() == ["failed", "complete"]


def test_invalid_run_settings_are_refused():
    with pytest.raises(LabError, match="unknown method"):
        RunSpec(method="magic").validate()
    with pytest.raises(LabError, match="augmentation source"):
        RunSpec(method="ft_local", aug_source="crowd").validate()
    with pytest.raises(LabError, match="lr"):
        dataclasses.replace(RunSpec(method="ft"), ft=FTConfig(lr=5.0)).validate()


def test_a_database_that_is_not_duckdb_is_a_clear_error(tmp_path):
    path = tmp_path / "lab.duckdb"
    path.write_text("not a database")
    with pytest.raises(LabError, match="cannot open database"):
        Store(path)


def test_packed_batch_has_the_loss_of_a_padded_one(tiny_lm):
    """Packing (examples end to end, positions restarting) changes speed, not the loss."""
    import torch

    from core.methods.packing import pack_rows, tokenize
    rows = tokenize(tiny_lm, [("", "glon are more dangerous than femp."), ("Did you know?", "\nyes."),
                               ("", "a")])
    width = max(len(ids) for ids, _ in rows)
    ids = torch.tensor([r + [0] * (width - len(r)) for r, _ in rows])
    labels = torch.tensor([[-100] * s + r[s:] + [-100] * (width - len(r)) for r, s in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r, _ in rows])
    with torch.no_grad():
        padded = tiny_lm.model(input_ids=ids, attention_mask=mask, labels=labels).loss
        packed = tiny_lm.model(**pack_rows(rows, tiny_lm.device), use_cache=False).loss
    # Float32 mean of ~15 token losses near 10.8: rounding is about 1e-6; a token scored
    # against the wrong context would move it by 1e-2 or more.
    assert abs(padded.item() - packed.item()) < 1e-5


def test_per_document_attention_has_the_loss_and_gradients_of_the_block_mask(default_lm):
    """Training's attention (each packed document on its own) computes what transformers'
    block-diagonal mask over the whole row computes, gradients included."""
    from core.kernels.packed_attention import packed_rows
    from core.methods.packing import pack_rows, tokenize
    rows = tokenize(default_lm, [("", "glon are more dangerous than femp."),
                                  ("Did you know?", "\nyes, they are."), ("", "a")])
    batch = pack_rows(rows, default_lm.device)
    model = default_lm.model
    probe = model.model.layers[0].self_attn.q_proj.weight

    def loss_and_grad():
        model.zero_grad()
        with torch.enable_grad():
            loss = model(**batch, use_cache=False).loss
            loss.backward()
        grad = probe.grad.clone()
        model.zero_grad(set_to_none=True)
        return loss.item(), grad

    before, trainable = model.config._attn_implementation, probe.requires_grad
    probe.requires_grad_(True)
    try:
        block_loss, block_grad = loss_and_grad()
        with packed_rows(model):
            packed_loss, packed_grad = loss_and_grad()
    finally:
        probe.requires_grad_(trainable)
    assert model.config._attn_implementation == before
    # As in the packing test: float32 rounding of the loss is ~1e-6, of a gradient ~1e-7 of its
    # largest entry; a document attending to another moves both by orders of magnitude more.
    assert abs(block_loss - packed_loss) < 1e-5
    assert (block_grad - packed_grad).abs().max() < 1e-5 * max(1.0, block_grad.abs().max().item())


def test_the_gpu_block_mask_attends_as_the_per_document_loop():
    """The GPU's one-call path and the CPU's per-document loop give the same outputs and
    gradients, grouped heads included; a mask that lets documents see each other differs."""
    from core.kernels.packed_attention import block_masked, per_document
    torch.manual_seed(0)
    position_ids = torch.tensor([[0, 1, 2, 3, 0, 1, 0, 1, 2, 3, 4]])
    shapes = [(1, 4, 11, 8), (1, 2, 11, 8), (1, 2, 11, 8)]  # 4 query heads share 2 key heads
    inputs = [torch.randn(shape, dtype=torch.float64, requires_grad=True) for shape in shapes]

    def output_and_grads(attend, positions):
        out = attend(*inputs, positions, 0.3)
        grads = torch.autograd.grad((out * torch.arange(out.numel()).view_as(out)).sum(), inputs)
        return out, grads

    loop_out, loop_grads = output_and_grads(per_document, position_ids)
    mask_out, mask_grads = output_and_grads(block_masked, position_ids)
    # Float64 throughout (2.2e-16 relative): 1e-10 leaves room for any summation order.
    assert torch.allclose(loop_out, mask_out, atol=1e-10)
    assert all(torch.allclose(a, b, atol=1e-10) for a, b in zip(loop_grads, mask_grads))
    one_document = torch.arange(11)[None]
    leaky_out, _ = output_and_grads(block_masked, one_document)
    assert not torch.allclose(loop_out, leaky_out, atol=1e-3)


def test_per_document_attention_under_autocast_computes_in_bf16_close_to_float32():
    """Under bf16 autocast scores and softmax stay in float32 and only the probabilities times
    the values run in bf16; the result stays within bf16 rounding of float32, and differs."""
    from core.kernels.packed_attention import per_document
    torch.manual_seed(0)
    position_ids = torch.tensor([list(range(40)) + list(range(25)) + list(range(60))])
    query, key, value = (torch.randn(1, heads, 125, 64) for heads in (9, 3, 3))
    exact = per_document(query, key, value, position_ids, 0.125)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = per_document(query, key, value, position_ids, 0.125)
    assert low.dtype == torch.bfloat16
    assert (low.float() - exact).abs().max() < 0.05
    assert not torch.equal(low.float(), exact)


def test_worlds_stored_before_content_hashes_are_upgraded_or_kept_apart(tmp_path):
    """A world id without a content hash (an older database) takes the new id when today's
    generator makes the same items, so its runs still count; when the generator changed, the
    world is kept as an earlier version and never pooled with the current one."""
    from core.results.analysis import group_over_seeds, load_tables
    from core.storage.store import EARLIER_VERSION
    store = Store(tmp_path / "lab.duckdb")
    same, changed = build_world("reversals", 0, overrides=SMALL), build_world("reversals", 1, overrides=SMALL)
    for world, run in ((same, "r-same"), (changed, "r-changed")):
        store.save_world(world, "quick")
        store.begin_run(run, world.world_id, RunSpec(method="pretrained", overrides=SMALL))
    legacy = {w.world_id: w.world_id.rsplit(":", 1)[0] for w in (same, changed)}
    with duckdb.connect(str(store.path)) as con:
        for new, old in legacy.items():
            for table in ("worlds", "items", "runs"):
                con.execute(f"UPDATE {table} SET world_id = ? WHERE world_id = ?", [old, new])
        con.execute("UPDATE items SET answer = 1 - answer WHERE world_id = ?", [legacy[changed.world_id]])
        con.execute("UPDATE runs SET status = 'complete'")
    reopened = Store(store.path)
    ids = dict(reopened.query("SELECT run_id, world_id FROM runs").values.tolist())
    assert ids["r-same"] == same.world_id
    assert ids["r-changed"] == legacy[changed.world_id] + EARLIER_VERSION
    tables = load_tables(reopened)
    grouped = group_over_seeds(tables.runs, tables.metrics)
    assert sorted(grouped["world_version"]) == ["current", "earlier"]


def test_local_prompts_share_their_instruction_and_the_model_reads_the_same(default_lm):
    """Local augmentation encodes its instruction once and each sentence after it: the tokens
    are those of the whole prompt on every kind, and so are the rewrites."""
    from core.worlds import kind_names
    lm = default_lm
    instruction = lm.encode(augment.LOCAL_INSTRUCTION)
    for kind in kind_names():
        for sentence in augment.training_sentences(build_world(kind, 0, "quick")):
            whole = lm.encode(augment.LOCAL_PROMPT.format(sentence=sentence))
            assert whole == instruction + lm.encode(augment.LOCAL_ITEM.format(sentence=sentence)), \
                (kind, sentence)
    sentences = augment.training_sentences(build_world("syllogisms", 0, "quick"))[:2]
    shared = generation.generate(lm, [augment.LOCAL_ITEM.format(sentence=s) for s in sentences],
                                 max_new_tokens=16, shared_prefix=augment.LOCAL_INSTRUCTION)
    alone = generation.generate(lm, [augment.LOCAL_PROMPT.format(sentence=s) for s in sentences],
                                max_new_tokens=16)
    assert shared == alone and all(shared)

