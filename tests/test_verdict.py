"""The verdict: never a method at chance, the cheapest that works and reaches the target,
and the caveats a reader needs. On hand-made evidence and on the What-if page."""

import duckdb
import pytest
from test_app import fill, open_page

from core.results.verdict import MethodEvidence, decide

WHAT_IF = "views/6_What_if.py"
RESULTS = "views/4_Results.py"


def method(label, mean, low, high, runs=3, coverage=0.0, chance=0.5):
    return MethodEvidence(label, label.split(" ")[0], runs, mean, low, high, chance, coverage,
                          {"reversal": (mean, low, high, chance)})


def test_methods_at_chance_are_never_recommended_however_cheap():
    found = [method("pretrained", 0.5, 0.38, 0.62), method("icl", 0.55, 0.41, 0.69),
             method("ft", 0.0, 0.0, 0.06)]
    verdict = decide(found, {"pretrained": 1, "icl": 2, "ft": 3}, 1e4, target=0.0)
    assert verdict.recommended is None and verdict.working == []
    assert verdict.headline.startswith("No method beats chance")
    assert "On reversal, no method is above chance" in " ".join(verdict.details)


def test_the_cheapest_working_method_that_reaches_the_target_is_recommended():
    found = [method("icl", 0.7, 0.55, 0.85), method("ft", 0.45, 0.2, 0.6),
             method("ft_local (oracle)", 0.95, 0.83, 1.0, coverage=1.0),
             method("ft_local_global (oracle)", 0.97, 0.85, 1.0, coverage=1.0)]
    costs = {"icl": 1.0, "ft": 0.1, "ft_local (oracle)": 5.0, "ft_local_global (oracle)": 9.0}
    low_bar = decide(found, costs, 100, target=0.6)
    assert low_bar.recommended == "icl"  # ft is cheaper but at chance
    high_bar = decide(found, costs, 100, target=0.9, cost_text=lambda c: f"${c:.0f}")
    assert high_bar.recommended == "ft_local (oracle)"
    assert "use ft_local (oracle)" in high_bar.headline and "$5 in all" in high_bar.headline
    assert any("given 100% of the held-out statements" in c for c in high_bar.caveats)
    unreachable = decide(found, costs, 100, target=0.99)
    assert unreachable.recommended is None and "best is ft_local_global (oracle)" in unreachable.headline


def test_caveats_name_few_seeds_a_knowing_baseline_and_the_small_model():
    found = [method("pretrained", 0.8, 0.7, 0.9), method("ft", 0.9, 0.8, 1.0, runs=1)]
    caveats = " ".join(decide(found, model="default").caveats)
    assert "Fewer than 3 seeds for ft" in caveats
    assert "pretrained is above chance" in caveats
    assert "135M default model" in caveats


@pytest.fixture
def all_at_chance(data_dir):
    path = fill(data_dir / "lab.duckdb")
    con = duckdb.connect(str(path))
    con.execute("UPDATE metrics SET correct = 10, accuracy = 0.5")
    con.execute("UPDATE predictions SET correct = (item_id[-1:]::INTEGER % 2 = 0)")
    con.close()
    return path


def test_the_what_if_page_recommends_nothing_when_every_method_is_at_chance(all_at_chance):
    at = open_page(WHAT_IF, db=str(all_at_chance))
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "No method beats chance on held-out items" in text and "queries, use" not in text
    assert "does not beat chance" in " ".join(i.value for i in at.info)
    assert not [d for d in at.dataframe if "break-even Q (FLOPs)" in d.value.columns]


def test_the_what_if_page_gives_the_verdict_and_break_even_between_working_methods(data_dir):
    at = open_page(WHAT_IF, db=str(fill(data_dir / "lab.duckdb")), target="0.9")
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "use ft_local" in text and "Above chance on held-out items" in text


def test_the_results_page_says_in_words_what_the_runs_support(data_dir, all_at_chance):
    at = open_page(RESULTS, db=str(fill(data_dir / "other.duckdb")))
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "The best method on held-out items is ft_local_global (oracle)" in text
    assert "Best on reversal" in text and "135M default model" in text
    at = open_page(RESULTS, db=str(all_at_chance))
    assert "No method beats chance" in " ".join(m.value for m in at.markdown)


def test_home_shows_the_lab_s_own_study_before_a_first_run(data_dir):
    from streamlit.testing.v1 import AppTest
    from test_app import HOME

    from core.results.published import published
    study = published("reversals")
    assert study is not None and study.model == "default" and len(study.table) >= 4
    assert "pretrained" in set(study.table["method"]) and "pretrained" not in study.verdict.working
    at = AppTest.from_file(HOME, default_timeout=60).run()
    assert not at.exception
    assert "What the lab's own study found" in [h.value for h in at.subheader]
    assert any(study.dates in c.value and "model `default`" in c.value for c in at.caption)
    assert any(study.verdict.headline in m.value for m in at.markdown)
    # Every kind the study ran can be shown, and the choice goes into the link.
    [world] = at.selectbox
    assert world.value == "reversals" and set(world.options) >= {"celebrities", "family"}
    at = world.select("celebrities").run()
    celebrities = published("celebrities")
    assert not at.exception and at.query_params["study"] == "celebrities"
    assert any("Quick `celebrities` world" in c.value and celebrities.dates in c.value
               for c in at.caption)
    assert any(celebrities.verdict.headline in m.value for m in at.markdown)
    # A shared link opens on its world.
    at = AppTest.from_file(HOME, default_timeout=60)
    at.query_params["study"] = "family"
    at.run()
    assert at.selectbox[0].value == "family"


def test_the_report_recommends_nothing_when_every_method_is_at_chance(all_at_chance):
    from core.results import analysis, report
    from core.storage.store import Store
    store = Store(all_at_chance, read_only=True)
    tables = analysis.load_tables(store)
    runs = tables.complete["run_id"].tolist()
    [view] = report.cost_views(store, tables, runs)
    assert view.at_q.empty and view.break_even.empty and view.curves.empty
    page = report.html_report(tables, runs, costs=[view])
    assert "No method beats chance" in page and "No method here answers above chance" in page
    assert "Break-even against ICL" not in page
